import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every table of the spec, with the columns later features need, so that they add little schema.
 * Status columns are text with CHECK constraints (not enums): adding a status is one ALTER, not a type dance.
 * The eight named performance indexes live in their own migration (CONCURRENTLY, no transaction).
 */
export class InitialSchema1764300000000 implements MigrationInterface {
  name = 'InitialSchema1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE EXTENSION IF NOT EXISTS pgcrypto`);

    await q.query(`
      CREATE TABLE users (
        id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name        text NOT NULL,
        email       text NOT NULL,
        tier        text NOT NULL DEFAULT 'free' CHECK (tier IN ('free', 'pro', 'enterprise')),
        role        text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX users_email_key ON users (lower(email))`);

    await q.query(`
      CREATE TABLE api_keys (
        id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name          text,
        key_hash      bytea NOT NULL,
        prefix        text NOT NULL,
        created_at    timestamptz NOT NULL DEFAULT now(),
        last_used_at  timestamptz,
        revoked_at    timestamptz
      )`);
    await q.query(`CREATE UNIQUE INDEX api_keys_key_hash_key ON api_keys (key_hash)`);
    await q.query(`CREATE INDEX api_keys_user_id ON api_keys (user_id, created_at DESC)`);

    await q.query(`
      CREATE TABLE batches (
        id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        status        text NOT NULL DEFAULT 'in_progress'
                      CHECK (status IN ('in_progress', 'completed', 'cancelling', 'cancelled')),
        total         integer NOT NULL DEFAULT 0,
        metadata      jsonb NOT NULL DEFAULT '{}',
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now(),
        completed_at  timestamptz
      )`);
    await q.query(`CREATE INDEX batches_user_id ON batches (user_id, created_at DESC, id DESC)`);
    await q.query(`CREATE INDEX batches_open ON batches (status) WHERE status IN ('in_progress', 'cancelling')`);

    await q.query(`
      CREATE TABLE pipelines (
        id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name         text NOT NULL,
        description  text,
        steps        jsonb NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now(),
        updated_at   timestamptz NOT NULL DEFAULT now(),
        deleted_at   timestamptz
      )`);
    await q.query(
      `CREATE INDEX pipelines_user_id ON pipelines (user_id, created_at DESC, id DESC) WHERE deleted_at IS NULL`,
    );

    // One row per pipeline run. `steps` snapshots the definition so editing or deleting the
    // pipeline never changes a run in flight.
    await q.query(`
      CREATE TABLE pipeline_jobs (
        id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        pipeline_id   uuid NOT NULL REFERENCES pipelines (id),
        status        text NOT NULL DEFAULT 'running'
                      CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
        current_step  integer NOT NULL DEFAULT 0,
        steps         jsonb NOT NULL,
        input         jsonb NOT NULL,
        output        jsonb,
        error         jsonb,
        metadata      jsonb NOT NULL DEFAULT '{}',
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now(),
        finished_at   timestamptz
      )`);

    await q.query(`
      CREATE TABLE jobs (
        id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        type             text NOT NULL,
        status           text NOT NULL DEFAULT 'queued'
                         CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
        priority         integer NOT NULL DEFAULT 0,
        input            jsonb NOT NULL,
        metadata         jsonb NOT NULL DEFAULT '{}',
        attempts         integer NOT NULL DEFAULT 0,
        max_attempts     integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
        cost             integer NOT NULL DEFAULT 0,
        error            jsonb,
        batch_id         uuid REFERENCES batches (id) ON DELETE CASCADE,
        custom_id        text,
        pipeline_run_id  uuid REFERENCES pipeline_jobs (id) ON DELETE CASCADE,
        pipeline_step    integer,
        idempotency_key  text,
        request_hash     text,
        run_at           timestamptz NOT NULL DEFAULT now(),
        locked_by        text,
        lease_expires_at timestamptz,
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now(),
        started_at       timestamptz,
        finished_at      timestamptz
      )`);
    await q.query(
      `CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL`,
    );
    await q.query(`CREATE INDEX jobs_batch_id ON jobs (batch_id, status) WHERE batch_id IS NOT NULL`);
    await q.query(`CREATE UNIQUE INDEX jobs_batch_custom_id ON jobs (batch_id, custom_id) WHERE custom_id IS NOT NULL`);
    await q.query(`CREATE INDEX jobs_pipeline_run_id ON jobs (pipeline_run_id) WHERE pipeline_run_id IS NOT NULL`);
    // The sweeper's scan for expired leases: small, because few jobs run at once.
    await q.query(`CREATE INDEX jobs_running_lease ON jobs (lease_expires_at) WHERE status = 'running'`);

    await q.query(`
      CREATE TABLE results (
        id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        output      jsonb NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
      )`);

    await q.query(`
      CREATE TABLE webhooks (
        id                          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id                     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        url                         text NOT NULL,
        events                      text[] NOT NULL,
        description                 text,
        active                      boolean NOT NULL DEFAULT true,
        disabled_reason             text,
        secret_encrypted            text NOT NULL,
        previous_secret_encrypted   text,
        previous_secret_expires_at  timestamptz,
        failing_since               timestamptz,
        created_at                  timestamptz NOT NULL DEFAULT now(),
        updated_at                  timestamptz NOT NULL DEFAULT now(),
        deleted_at                  timestamptz
      )`);
    await q.query(
      `CREATE INDEX webhooks_user_id ON webhooks (user_id, created_at DESC, id DESC) WHERE deleted_at IS NULL`,
    );

    await q.query(`
      CREATE TABLE webhook_events (
        id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        type        text NOT NULL,
        data        jsonb NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX webhook_events_user_id ON webhook_events (user_id, created_at DESC)`);

    await q.query(`
      CREATE TABLE webhook_deliveries (
        id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        webhook_id        uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
        event_id          uuid NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
        user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        event_type        text NOT NULL,
        status            text NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'succeeded', 'failed')),
        attempts          integer NOT NULL DEFAULT 0,
        next_attempt_at   timestamptz NOT NULL DEFAULT now(),
        locked_until      timestamptz,
        last_status_code  integer,
        last_error        text,
        created_at        timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now(),
        delivered_at      timestamptz
      )`);
    await q.query(
      `CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'`,
    );
    await q.query(
      `CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at DESC, id DESC)`,
    );
    await q.query(`CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id)`);

    await q.query(`
      CREATE TABLE webhook_delivery_attempts (
        id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        delivery_id    uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
        attempted_at   timestamptz NOT NULL DEFAULT now(),
        status_code    integer,
        duration_ms    integer NOT NULL,
        error          text,
        response_body  text
      )`);
    await q.query(
      `CREATE INDEX webhook_delivery_attempts_delivery ON webhook_delivery_attempts (delivery_id, attempted_at)`,
    );

    await q.query(`
      CREATE TABLE usage_records (
        id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        job_id      uuid REFERENCES jobs (id) ON DELETE SET NULL,
        job_type    text NOT NULL,
        credits     integer NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX usage_records_user_month ON usage_records (user_id, created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [
      'usage_records',
      'webhook_delivery_attempts',
      'webhook_deliveries',
      'webhook_events',
      'webhooks',
      'results',
      'jobs',
      'pipeline_jobs',
      'pipelines',
      'batches',
      'api_keys',
      'users',
    ]) {
      await q.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}
