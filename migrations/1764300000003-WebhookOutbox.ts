import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhook delivery support:
 * - `retry_base`: the attempt count when a delivery was last (re-)armed by retry, replay or
 *   recover; the retry schedule restarts from there while `attempts` keeps the full history count.
 * - a statement trigger that NOTIFYs `conveyor_webhooks` when deliveries are inserted, so every
 *   outbox write (whatever statement made it) wakes the dispatchers at commit.
 */
export class WebhookOutbox1764300000003 implements MigrationInterface {
  name = 'WebhookOutbox1764300000003';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE webhook_deliveries ADD COLUMN retry_base integer NOT NULL DEFAULT 0`);
    await q.query(`
      CREATE FUNCTION conveyor_notify_webhook_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF EXISTS (SELECT 1 FROM new_deliveries) THEN
          PERFORM pg_notify('conveyor_webhooks', '');
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER webhook_deliveries_notify AFTER INSERT ON webhook_deliveries
        REFERENCING NEW TABLE AS new_deliveries
        FOR EACH STATEMENT EXECUTE FUNCTION conveyor_notify_webhook_deliveries()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER webhook_deliveries_notify ON webhook_deliveries`);
    await q.query(`DROP FUNCTION conveyor_notify_webhook_deliveries()`);
    await q.query(`ALTER TABLE webhook_deliveries DROP COLUMN retry_base`);
  }
}
