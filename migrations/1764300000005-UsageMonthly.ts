import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `usage_monthly`: each user's credits used per calendar month (UTC), kept in step with
 * `usage_records` by the statements that write those (queue.sql.ts). The quota check is a
 * conditional upsert of this one row — O(1) and race-free — instead of summing a month of usage
 * records on every submission. Filled from the existing records.
 */
export class UsageMonthly1764300000005 implements MigrationInterface {
  name = 'UsageMonthly1764300000005';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE usage_monthly (
        user_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        month    date NOT NULL,
        credits  bigint NOT NULL,
        PRIMARY KEY (user_id, month)
      )`);
    await q.query(`
      INSERT INTO usage_monthly (user_id, month, credits)
      SELECT user_id, date_trunc('month', created_at AT TIME ZONE 'UTC')::date, sum(credits)
        FROM usage_records GROUP BY 1, 2`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS usage_monthly`);
  }
}
