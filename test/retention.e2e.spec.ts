import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';

/**
 * Retention: the worker's sweeper deletes finished standalone jobs older than JOB_RETENTION_DAYS
 * and results older than RESULT_RETENTION_DAYS; everything else stays.
 */
describe('retention purge by the worker’s sweeper', () => {
  let t: TestApp;
  let alice: TestUser;

  /** A job (and, when completed, its result and a usage record) created `days` ago. */
  async function oldJob(
    days: number,
    status: string,
    extra: { batchId?: string; resultDays?: number; runInDays?: number } = {},
  ): Promise<string> {
    const { rows } = await t.db.pool.query<{ id: string }>(
      `INSERT INTO jobs (user_id, type, status, input, cost, batch_id, created_at, run_at, finished_at)
       VALUES ($1, 'echo', $2, '{}', 1, $3, now() - make_interval(days => $4), now() + make_interval(days => $5),
               CASE WHEN $2 IN ('completed', 'failed', 'cancelled') THEN now() - make_interval(days => $4) END)
       RETURNING id`,
      [alice.id, status, extra.batchId ?? null, days, extra.runInDays ?? -days],
    );
    const id = rows[0].id;
    await t.db.pool.query(`INSERT INTO usage_records (user_id, job_id, job_type, credits) VALUES ($1, $2, 'echo', 1)`, [
      alice.id,
      id,
    ]);
    if (status === 'completed') {
      await t.db.pool.query(
        `INSERT INTO results (job_id, output, created_at) VALUES ($1, '{"ok": true}', now() - make_interval(days => $2))`,
        [id, extra.resultDays ?? days],
      );
    }
    return id;
  }

  const exists = async (table: string, column: string, id: string): Promise<boolean> =>
    (await t.db.pool.query(`SELECT 1 FROM ${table} WHERE ${column} = $1`, [id])).rowCount === 1;

  beforeAll(async () => {
    // Start without a worker so the rows below are all in place before the first sweep.
    t = await startTestApp({ ROLE: 'api' });
    alice = await createUser(t.db);
  });
  afterAll(async () => {
    await t.close();
    await t.db.drop();
  });

  it('deletes what has expired, keeps the rest, and an expired result is 410 RESULT_EXPIRED', async () => {
    const expiredJob = await oldJob(40, 'completed');
    const expiredFailed = await oldJob(40, 'failed');
    // Submitted long ago to run tomorrow: old, but not finished.
    const oldButQueued = await oldJob(40, 'queued', { runInDays: 1 });
    const { rows: batch } = await t.db.pool.query<{ id: string }>(
      `INSERT INTO batches (user_id, total) VALUES ($1, 1) RETURNING id`,
      [alice.id],
    );
    const oldBatchJob = await oldJob(40, 'completed', { batchId: batch[0].id });
    const recentJobOldResult = await oldJob(10, 'completed', { resultDays: 10 });
    const recentJob = await oldJob(1, 'completed');
    // A backlog larger than one purge batch (1,000): drained in batches within one sweep.
    await t.db.pool.query(
      `INSERT INTO jobs (user_id, type, status, input, created_at, finished_at)
       SELECT $1, 'echo', 'completed', '{}', now() - interval '50 days', now() - interval '50 days'
         FROM generate_series(1, 2500)`,
      [alice.id],
    );

    await t.app.close(); // the API-only instance; the database stays for the next one
    t = await startTestApp(
      { JOB_RETENTION_DAYS: '30', RESULT_RETENTION_DAYS: '7', WORKER_SWEEP_INTERVAL_MS: '100', ROLE: 'all' },
      t.db,
    );

    await expect.poll(() => exists('jobs', 'id', expiredJob), { timeout: 10_000, interval: 100 }).toBe(false);
    await expect.poll(() => exists('results', 'job_id', recentJobOldResult), { timeout: 10_000 }).toBe(false);
    expect(await exists('jobs', 'id', expiredFailed)).toBe(false);
    const purgeLogs = t.logs.filter((l) => l.msg === 'purged expired jobs');
    expect(purgeLogs[0]).toMatchObject({ deleted: 2502, retentionDays: 30 });
    expect(await exists('results', 'job_id', expiredJob)).toBe(false);

    expect(await exists('jobs', 'id', oldButQueued)).toBe(true);
    expect(await exists('jobs', 'id', oldBatchJob)).toBe(true); // goes with its batch, not alone
    expect(await exists('jobs', 'id', recentJobOldResult)).toBe(true);
    expect(await exists('jobs', 'id', recentJob)).toBe(true);
    expect(await exists('results', 'job_id', recentJob)).toBe(true);

    // Billing survives the purge: the usage record stays, detached from the deleted job.
    const usage = await t.db.pool.query(`SELECT count(*)::int AS n FROM usage_records WHERE user_id = $1`, [alice.id]);
    expect(usage.rows[0].n).toBe(6);

    const gone = await t.request({ method: 'GET', url: `/api/v1/jobs/${expiredJob}`, key: alice.key });
    expect(gone.status).toBe(404);
    const expired = await t.request({
      method: 'GET',
      url: `/api/v1/jobs/${recentJobOldResult}/result`,
      key: alice.key,
    });
    expect(expired.status).toBe(410);
    expect(expired.body).toMatchObject({ code: 'RESULT_EXPIRED', status: 410 });
    const kept = await t.request({ method: 'GET', url: `/api/v1/jobs/${recentJob}/result`, key: alice.key });
    expect(kept.status).toBe(200);
    expect(kept.body.output).toEqual({ ok: true });
  });
});
