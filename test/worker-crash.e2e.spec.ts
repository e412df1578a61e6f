import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { startWorkerProcess, type ServiceProcess } from './helpers/process.js';
import { waitFor } from './helpers/wait.js';

/** Worker processes started from the built service, killed and stopped for real, by pid. */
describe('worker processes', () => {
  let db: TestDatabase;
  let userId: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    // Enterprise: the tier's running cap (64) must not be what limits these workers' 20 slots.
    userId = (
      await db.pool.query(
        `INSERT INTO users (name, email, tier) VALUES ('w', 'w@test.local', 'enterprise') RETURNING id`,
      )
    ).rows[0].id;
  });
  afterAll(async () => db.drop());

  const worker = (extra: Record<string, string> = {}): Promise<ServiceProcess> =>
    startWorkerProcess(db.url, { WORKER_CONCURRENCY: '20', ...extra });

  async function enqueue(n: number, type: string, input: unknown): Promise<void> {
    await db.pool.query(
      `INSERT INTO jobs (user_id, type, input, max_attempts)
       SELECT $1, $2, $3, 5 FROM generate_series(1, $4)`,
      [userId, type, JSON.stringify(input), n],
    );
    await db.pool.query(`NOTIFY conveyor_jobs`);
  }

  async function counts(): Promise<Record<string, number>> {
    const { rows } = await db.pool.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM jobs GROUP BY status`,
    );
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  it('kill -9 with jobs in flight: another worker completes every job exactly once', async () => {
    await db.pool.query('TRUNCATE jobs CASCADE');
    await enqueue(60, 'sleep', { ms: 300 });
    const first = await worker();
    // Wait until the first worker is mid-way: some done, some running (read together: between a
    // wave's completion and the next claim nothing is running for a moment).
    await waitFor('the first worker to be mid-way', counts, (c) => (c.completed ?? 0) > 5 && (c.running ?? 0) > 0, {
      timeout: 20_000,
      interval: 20,
    });
    process.kill(first.pid, 'SIGKILL');
    await first.exited;

    const second = await worker();
    try {
      await expect.poll(async () => (await counts()).completed ?? 0, { timeout: 30_000, interval: 100 }).toBe(60);
      expect(await counts()).toEqual({ completed: 60 });
      const results = await db.pool.query(
        `SELECT count(*)::int AS n, count(DISTINCT job_id)::int AS distinct_jobs FROM results`,
      );
      expect(results.rows[0]).toEqual({ n: 60, distinct_jobs: 60 });
      // The killed worker's jobs were re-run: their attempt count shows it.
      const rerun = await db.pool.query(`SELECT count(*)::int AS n FROM jobs WHERE attempts > 1`);
      expect(rerun.rows[0].n).toBeGreaterThan(0);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });

  it('two workers on one queue never run a job twice at once', async () => {
    await db.pool.query('TRUNCATE jobs CASCADE');
    await enqueue(200, 'echo', { hello: 'world' });
    const [a, b] = await Promise.all([worker(), worker()]);
    try {
      await expect.poll(async () => (await counts()).completed ?? 0, { timeout: 30_000, interval: 100 }).toBe(200);
      // Each job claimed once: one attempt each, one result each, nothing swept.
      const { rows } = await db.pool.query(
        `SELECT count(*) FILTER (WHERE attempts = 1)::int AS once, count(*)::int AS total FROM jobs`,
      );
      expect(rows[0]).toEqual({ once: 200, total: 200 });
      const results = await db.pool.query(`SELECT count(*)::int AS n FROM results`);
      expect(results.rows[0].n).toBe(200);
    } finally {
      a.child.kill('SIGTERM');
      b.child.kill('SIGTERM');
      await Promise.all([a.exited, b.exited]);
    }
  });

  it('SIGTERM leaves no job running: in-flight jobs finish or are released', async () => {
    await db.pool.query('TRUNCATE jobs CASCADE');
    await enqueue(20, 'sleep', { ms: 20_000 });
    const w = await worker({ WORKER_SHUTDOWN_GRACE_MS: '500' });
    await expect.poll(async () => (await counts()).running ?? 0, { timeout: 10_000, interval: 50 }).toBe(20);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    const after = await counts();
    expect(after.running ?? 0).toBe(0);
    expect(after.queued).toBe(20);
    // Released, not charged: the attempt did not count against the job.
    const { rows } = await db.pool.query(`SELECT max(attempts)::int AS max FROM jobs`);
    expect(rows[0].max).toBe(0);
  });
});
