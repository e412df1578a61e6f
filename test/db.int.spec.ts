import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Db, type StatementRun } from '../src/database/db.js';
import { runFor } from '../src/common/context/statement-context.js';
import { sql } from '../src/database/sql.js';
import { createUser, startTestApp, type TestApp } from './helpers/app.js';
import { waitFor } from './helpers/wait.js';

const SLEEP = sql<{ slept: string }>(
  'test.sleep',
  `SELECT pg_sleep($1::double precision)::text AS slept, $2::text AS tag`,
);
const FAIL = sql('test.fail', `SELECT 1 / $1::int AS x`);

/** The Db provider times every statement, prepared ones included, and logs slow ones without their parameters. */
describe('Db', () => {
  let t: TestApp;
  let db: Db;
  const runs: StatementRun[] = [];

  beforeAll(async () => {
    t = await startTestApp({ DB_SLOW_QUERY_MS: '150', WORKER_POLL_INTERVAL_MS: '100' });
    db = t.app.get(Db);
    db.onStatement((run) => runs.push(run));
  });

  afterAll(async () => {
    await t?.close();
  });

  it('times every statement an API request and the worker run, prepared ones included', async () => {
    const user = await createUser(t.db);
    const created = await t.request({
      method: 'POST',
      url: '/api/v1/jobs',
      key: user.key,
      body: { type: 'echo', input: {} },
    });
    expect(created.status).toBe(201);
    await waitFor('the job to complete', () => runs.some((r) => r.name === 'queue.complete' && r.rows === 1));
    const names = new Set(runs.map((r) => r.name));
    // The key lookup and the claim are named prepared statements: they are timed like the rest.
    for (const name of ['apiKeys.findPrincipalByHash', 'queue.enqueue', 'queue.claim', 'queue.complete']) {
      expect(names, name).toContain(name);
    }
    for (const run of runs) expect(run.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('leaves plan_cache_mode at auto on the app’s connections, so unprepared statements are planned for their values', async () => {
    // A pool that forced generic plans made the list queries' `($2 IS NULL OR status = $2)` a
    // filter on every row of the user's jobs: 95 ms a page at 1M rows instead of 1.6 ms (list
    // bench). EXPLAIN cannot show it (an EXPLAIN is always planned for its parameters), so the
    // setting itself is checked, on both of the Db's pools.
    const show = sql<{ plan_cache_mode: string }>('test.showPlanCacheMode', `SHOW plan_cache_mode`);
    expect((await db.reader.query(show))[0].plan_cache_mode).toBe('auto');
    expect((await db.query(show))[0].plan_cache_mode).toBe('auto');
    expect((await db.transaction((tx) => tx.query(show)))[0].plan_cache_mode).toBe('auto');
    // Prepared statements run on their own pool, on their generic plan from the first execution:
    // left to auto, PostgreSQL re-planned the claim (a 20k drain at 1,008 instead of 1,822 jobs/s).
    const prepared = sql<{ mode: string }>(
      'test.preparedPlanCacheMode',
      `SELECT current_setting('plan_cache_mode') AS mode, $1::int AS n`,
      { prepare: true },
    );
    expect((await db.query(prepared, [1]))[0].mode).toBe('force_generic_plan');
  });

  it('logs a slow statement as a warning with its name, text and duration, never its parameters', async () => {
    const secret = 'cvk_not-to-be-logged-0123456789';
    await db.query(SLEEP, [0.2, secret]);
    await db.query(SLEEP, [0, 'fast']);
    // Only this statement's: on a loaded machine the worker's own statements may be slow too.
    const slow = t.logs.filter((l) => l.msg === 'slow query' && l.statement === 'test.sleep');
    expect(slow).toHaveLength(1);
    expect(slow[0]).toMatchObject({ level: 'warn', statement: 'test.sleep', sql: SLEEP.text });
    expect(slow[0].durationMs).toBeGreaterThanOrEqual(150);
    expect(JSON.stringify(t.logs)).not.toContain(secret);
  });

  it('names the route or the job a slow statement ran for', async () => {
    const user = await createUser(t.db);
    const created = await t.request({
      method: 'POST',
      url: '/api/v1/jobs',
      key: user.key,
      body: { type: 'echo', input: {}, runAt: new Date(Date.now() + 60_000).toISOString() },
    });
    const id = created.body.id as string;
    // Hold the job's row so that the cancel's UPDATE waits past DB_SLOW_QUERY_MS (150 ms).
    const blocker = await t.db.pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE', [id]);
      const cancel = t.request({ method: 'POST', url: `/api/v1/jobs/${id}/cancel`, key: user.key });
      await new Promise((resolve) => setTimeout(resolve, 300));
      await blocker.query('COMMIT');
      expect((await cancel).status).toBe(200);
    } finally {
      blocker.release();
    }
    const slow = t.logs.filter((l) => l.msg === 'slow query' && l.statement === 'queue.cancel');
    expect(slow.at(-1)).toMatchObject({ route: '/api/v1/jobs/:id/cancel', method: 'POST' });

    await runFor({ jobId: 'job-1', jobType: 'echo' }, () => db.query(SLEEP, [0.2, 'in a job']));
    const inJob = t.logs.filter((l) => l.msg === 'slow query' && l.statement === 'test.sleep').at(-1);
    expect(inJob).toMatchObject({ jobId: 'job-1', jobType: 'echo' });
  });

  it('reports a failed statement to listeners with no row count, and rolls a transaction back', async () => {
    await expect(db.query(FAIL, [0])).rejects.toThrow(/division by zero/);
    expect(runs.at(-1)).toMatchObject({ name: 'test.fail', rows: undefined });
    const marker = `rollback-${Date.now()}`;
    const INSERT = sql('test.insertUser', `INSERT INTO users (name, email) VALUES ($1, $2) RETURNING id`);
    await expect(
      db.transaction(async (tx) => {
        await tx.query(INSERT, [marker, `${marker}@test.local`]);
        await tx.query(FAIL, [0]);
      }),
    ).rejects.toThrow(/division by zero/);
    const { rowCount } = await t.db.pool.query('SELECT 1 FROM users WHERE name = $1', [marker]);
    expect(rowCount).toBe(0);
  });
});
