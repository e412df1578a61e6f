import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revertLastMigration, runMigrations } from '../src/database/migrator.js';
import { PERFORMANCE_INDEXES } from '../migrations/1764300000001-PerformanceIndexes.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';

const TABLES = [
  'users',
  'api_keys',
  'jobs',
  'results',
  'batches',
  'pipelines',
  'pipeline_jobs',
  'webhooks',
  'webhook_events',
  'webhook_deliveries',
  'webhook_delivery_attempts',
  'usage_records',
  'usage_monthly',
];
/** The tables of the initial schema: all but those later migrations add. */
const INITIAL_TABLES = TABLES.filter((t) => t !== 'usage_monthly');

const INDEX_NAMES = [
  'idx_jobs_status',
  'idx_jobs_created_at',
  'idx_jobs_user_id',
  'idx_jobs_user_status',
  'idx_results_job_id',
  'idx_results_created_at',
  'idx_pipeline_jobs_status',
  'idx_pipeline_jobs_created_at',
];

const ALL_MIGRATIONS = [
  'InitialSchema1764300000000',
  'PerformanceIndexes1764300000001',
  'RetentionOnlyCreatedAtIndex1764300000002',
  'WebhookOutbox1764300000003',
  'BatchAndPipelineSupport1764300000004',
  'UsageMonthly1764300000005',
  'QueuedByUserIndex1764300000006',
  'ClaimRunningCount1764300000007',
  'RunCreditsHeld1764300000008',
];

function createdAtIndex(found: Array<{ name: string; definition: string }>): string | undefined {
  return found.find((i) => i.name === 'idx_jobs_created_at')?.definition;
}

describe('migrations', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => db.drop());

  async function tables(): Promise<string[]> {
    const { rows } = await db.pool.query<{ tablename: string }>(
      `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'migrations' ORDER BY 1`,
    );
    return rows.map((r) => r.tablename);
  }

  async function indexes(): Promise<Array<{ name: string; valid: boolean; definition: string }>> {
    const { rows } = await db.pool.query<{ name: string; valid: boolean; definition: string }>(
      `SELECT c.relname AS name, i.indisvalid AS valid, pg_get_indexdef(i.indexrelid) AS definition
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname LIKE 'idx\\_%' ORDER BY 1`,
    );
    return rows;
  }

  it('the named index list is the spec’s eight', () => {
    expect(PERFORMANCE_INDEXES.map((i) => i.name).sort()).toEqual([...INDEX_NAMES].sort());
  });

  it('up creates every table and the eight valid indexes', async () => {
    expect(await runMigrations(db.url)).toEqual(ALL_MIGRATIONS);
    expect(await tables()).toEqual([...TABLES].sort());
    const found = await indexes();
    expect(found.map((i) => i.name).sort()).toEqual([...INDEX_NAMES].sort());
    expect(found.every((i) => i.valid)).toBe(true);
    expect(found.find((i) => i.name === 'idx_results_job_id')?.definition).toContain('UNIQUE');
    expect(createdAtIndex(found)).toContain('WHERE');
    expect(await runMigrations(db.url)).toEqual([]);
  });

  it('down of the run-credits migration drops its two columns; up adds them again, holding nothing', async () => {
    const columns = async (): Promise<string[]> =>
      (
        await db.pool.query<{ c: string }>(
          `SELECT column_name AS c FROM information_schema.columns
            WHERE table_name = 'pipeline_jobs' AND column_name LIKE 'credits\\_%' ORDER BY 1`,
        )
      ).rows.map((r) => r.c);
    expect(await columns()).toEqual(['credits_held', 'credits_month']);
    expect(await revertLastMigration(db.url)).toBe('RunCreditsHeld1764300000008');
    expect(await columns()).toEqual([]);
    expect(await runMigrations(db.url)).toEqual(['RunCreditsHeld1764300000008']);
    expect(await columns()).toEqual(['credits_held', 'credits_month']);
    expect(await revertLastMigration(db.url)).toBe('RunCreditsHeld1764300000008');
  });

  it('down of the claim-count migration drops its function; up creates it again', async () => {
    const exists = async (): Promise<boolean> =>
      (await db.pool.query(`SELECT to_regprocedure('claim_running_jobs(uuid)') IS NOT NULL AS ok`)).rows[0].ok;
    expect(await exists()).toBe(true);
    expect(await revertLastMigration(db.url)).toBe('ClaimRunningCount1764300000007');
    expect(await exists()).toBe(false);
    expect(await runMigrations(db.url)).toEqual(['ClaimRunningCount1764300000007', 'RunCreditsHeld1764300000008']);
    expect(await exists()).toBe(true);
    expect(await revertLastMigration(db.url)).toBe('RunCreditsHeld1764300000008');
    expect(await revertLastMigration(db.url)).toBe('ClaimRunningCount1764300000007');
  });

  it('down of the queued-by-user migration drops its index; up builds it again, partial on queued', async () => {
    const definition = async (): Promise<string | undefined> =>
      (
        await db.pool
          .query<{ d: string }>(`SELECT pg_get_indexdef('jobs_queued_user'::regclass) AS d`)
          .catch(() => undefined)
      )?.rows[0]?.d;
    expect(await definition()).toMatch(/\(user_id, priority DESC, run_at\) WHERE \(status = 'queued'::text\)$/);
    expect(await revertLastMigration(db.url)).toBe('QueuedByUserIndex1764300000006');
    expect(await definition()).toBeUndefined();
    expect(await runMigrations(db.url)).toEqual([
      'QueuedByUserIndex1764300000006',
      'ClaimRunningCount1764300000007',
      'RunCreditsHeld1764300000008',
    ]);
    expect(await definition()).toContain('WHERE');
    expect(await revertLastMigration(db.url)).toBe('RunCreditsHeld1764300000008');
    expect(await revertLastMigration(db.url)).toBe('ClaimRunningCount1764300000007');
    expect(await revertLastMigration(db.url)).toBe('QueuedByUserIndex1764300000006');
  });

  it('down of the monthly usage migration drops its table; up fills it from the usage records', async () => {
    expect(await revertLastMigration(db.url)).toBe('UsageMonthly1764300000005');
    expect(await tables()).not.toContain('usage_monthly');
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO users (name, email) VALUES ('m', 'm@test.local') RETURNING id`,
    );
    await db.pool.query(
      `INSERT INTO usage_records (user_id, job_type, credits, created_at)
       VALUES ($1, 'echo', 2, '2026-10-31T23:59:59Z'), ($1, 'echo', 3, '2026-11-01T00:00:00Z'), ($1, 'hash', 4, '2026-11-30T12:00:00Z')`,
      [rows[0].id],
    );
    expect(await runMigrations(db.url)).toEqual([
      'UsageMonthly1764300000005',
      'QueuedByUserIndex1764300000006',
      'ClaimRunningCount1764300000007',
      'RunCreditsHeld1764300000008',
    ]);
    const monthly = await db.pool.query(`SELECT month::text, credits::int FROM usage_monthly ORDER BY month`);
    expect(monthly.rows).toEqual([
      { month: '2026-10-01', credits: 2 },
      { month: '2026-11-01', credits: 7 },
    ]);
    await db.pool.query(`DELETE FROM users`);
    expect(await revertLastMigration(db.url)).toBe('RunCreditsHeld1764300000008');
    expect(await revertLastMigration(db.url)).toBe('ClaimRunningCount1764300000007');
    expect(await revertLastMigration(db.url)).toBe('QueuedByUserIndex1764300000006');
    expect(await revertLastMigration(db.url)).toBe('UsageMonthly1764300000005');
  });

  it('down of the batch and pipeline support migration drops its column and indexes', async () => {
    expect(await revertLastMigration(db.url)).toBe('BatchAndPipelineSupport1764300000004');
    const column = await db.pool.query(
      `SELECT 1 FROM information_schema.columns WHERE table_name = 'jobs' AND column_name = 'batch_item'`,
    );
    expect(column.rowCount).toBe(0);
  });

  it('down of the webhook outbox migration drops its column and trigger', async () => {
    expect(await revertLastMigration(db.url)).toBe('WebhookOutbox1764300000003');
    const column = await db.pool.query(
      `SELECT 1 FROM information_schema.columns WHERE table_name = 'webhook_deliveries' AND column_name = 'retry_base'`,
    );
    expect(column.rowCount).toBe(0);
    const trigger = await db.pool.query(`SELECT 1 FROM pg_trigger WHERE tgname = 'webhook_deliveries_notify'`);
    expect(trigger.rowCount).toBe(0);
  });

  it('down of the retention migration gives idx_jobs_created_at back its full form', async () => {
    expect(await revertLastMigration(db.url)).toBe('RetentionOnlyCreatedAtIndex1764300000002');
    const found = await indexes();
    expect(found).toHaveLength(8);
    expect(found.every((i) => i.valid)).toBe(true);
    expect(createdAtIndex(found)).toMatch(/\(created_at\)$/);
  });

  it('down of the index migration drops exactly the eight indexes, CONCURRENTLY outside a transaction', async () => {
    expect(await revertLastMigration(db.url)).toBe('PerformanceIndexes1764300000001');
    expect(await indexes()).toEqual([]);
    expect(await tables()).toEqual([...INITIAL_TABLES].sort());
  });

  it('down of the initial schema drops every table', async () => {
    expect(await revertLastMigration(db.url)).toBe('InitialSchema1764300000000');
    expect(await tables()).toEqual([]);
    expect(await revertLastMigration(db.url)).toBeUndefined();
  });

  it('up again after down restores the same schema', async () => {
    await runMigrations(db.url);
    expect(await tables()).toEqual([...TABLES].sort());
    expect((await indexes()).map((i) => i.name).sort()).toEqual([...INDEX_NAMES].sort());
  });

  it('a failed CONCURRENTLY build (invalid index) is rebuilt by the next run', async () => {
    for (let i = 0; i < ALL_MIGRATIONS.length - 2; i += 1) await revertLastMigration(db.url); // down to the indexes
    expect(await revertLastMigration(db.url)).toBe('PerformanceIndexes1764300000001');
    // Simulate a build that died half-way: an INVALID index of the same name left behind.
    await db.pool.query(`CREATE INDEX idx_jobs_status ON jobs (status)`);
    await db.pool.query(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'idx_jobs_status'::regclass`);
    await runMigrations(db.url);
    const status = (await indexes()).find((i) => i.name === 'idx_jobs_status');
    expect(status?.valid).toBe(true);
    expect(status?.definition).toContain('priority DESC');
  });

  it('concurrent runs from several instances apply each migration once', async () => {
    for (let i = 0; i < ALL_MIGRATIONS.length; i += 1) await revertLastMigration(db.url);
    expect(await tables()).toEqual([]);
    const results = await Promise.all([runMigrations(db.url), runMigrations(db.url), runMigrations(db.url)]);
    expect(results.flat().sort()).toEqual([...ALL_MIGRATIONS].sort());
    const { rows } = await db.pool.query('SELECT name FROM migrations');
    expect(rows).toHaveLength(ALL_MIGRATIONS.length);
  });
});
