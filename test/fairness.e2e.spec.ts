import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobLifecycle } from '../src/modules/queue/job-lifecycle.service.js';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';
import { waitFor } from './helpers/wait.js';

/**
 * Issue 10 #8: one user's queued work must not hold back another's. Before: one user's 20 long
 * jobs at priority 1000 took every worker slot, and another user's echo job waited for them (29.6 s).
 */
describe('fair use of the queue', () => {
  let t: TestApp;
  let heavy: TestUser;
  let light: TestUser;
  let free: TestUser;

  beforeAll(async () => {
    t = await startTestApp({
      WORKER_CONCURRENCY: '4',
      WORKER_POLL_INTERVAL_MS: '100',
      QUEUE_MAX_RUNNING_PRO: '3',
    });
    [heavy, light, free] = await Promise.all([
      createUser(t.db, { tier: 'pro' }),
      createUser(t.db, { tier: 'pro' }),
      createUser(t.db, { tier: 'free' }),
    ]);
  });

  afterAll(async () => {
    await t?.close();
  });

  const submit = async (user: TestUser, body: Record<string, unknown>) => {
    const res = await t.request({ method: 'POST', url: '/api/v1/jobs', key: user.key, body });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id as string;
  };

  const running = async (userId: string): Promise<number> =>
    (
      await t.db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM jobs WHERE user_id = $1 AND status = 'running'`,
        [userId],
      )
    ).rows[0].n;

  it('a user at their running cap leaves slots to others: the other user’s job finishes first', async () => {
    const long = await Promise.all(
      Array.from({ length: 8 }, () => submit(heavy, { type: 'sleep', input: { ms: 2500 }, priority: 100 })),
    );
    await waitFor(
      'the heavy user’s first jobs to run',
      () => running(heavy.id),
      (n) => n > 0,
    );
    // Never more than the cap at once, however many slots are free.
    const samples: number[] = [];
    for (let i = 0; i < 10; i += 1) {
      samples.push(await running(heavy.id));
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(Math.max(...samples)).toBe(3);

    const quick = await submit(light, { type: 'echo', input: { hi: true } });
    await waitFor(
      'the light user’s job to complete',
      async () =>
        (await t.request({ method: 'GET', url: `/api/v1/jobs/${quick}`, key: light.key })).body.status as string,
      (s) => s === 'completed',
    );
    // Ordered by the database's own clock, not by a timer: the echo ended before any of the
    // heavy user's jobs did (before, it queued behind them until a slot freed).
    const { rows } = await t.db.pool.query<{ first_heavy: Date | null; quick: Date }>(
      `SELECT (SELECT min(finished_at) FROM jobs WHERE id = ANY($1::uuid[])) AS first_heavy,
              (SELECT finished_at FROM jobs WHERE id = $2) AS quick`,
      [long, quick],
    );
    expect(rows[0].first_heavy === null || rows[0].quick < rows[0].first_heavy).toBe(true);
    // The heavy user's jobs all still run, the cap's worth at a time.
    await waitFor(
      'the heavy user’s jobs to finish',
      async () =>
        (
          await t.db.pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1::uuid[]) AND status = 'completed'`,
            [long],
          )
        ).rows[0].n,
      (n) => n === 8,
      { timeout: 30_000 },
    );
  });

  it('bounds the priority a tier may set', async () => {
    const tooHigh = await t.request({
      method: 'POST',
      url: '/api/v1/jobs',
      key: free.key,
      body: { type: 'echo', input: {}, priority: 11 },
    });
    expect(tooHigh.status).toBe(422);
    expect(tooHigh.body.errors).toEqual([{ field: 'priority', message: 'must not be greater than 10 for tier free' }]);
    await submit(free, { type: 'echo', input: {}, priority: 10 });
    await submit(free, { type: 'echo', input: {}, priority: -1000 });
    await submit(heavy, { type: 'echo', input: {}, priority: 100 });
    const proTooHigh = await t.request({
      method: 'POST',
      url: '/api/v1/jobs',
      key: heavy.key,
      body: { type: 'echo', input: {}, priority: 101 },
    });
    expect(proTooHigh.status).toBe(422);
  });
});

/**
 * The claim itself, with no worker running (ROLE=api): which jobs one claim takes when the head
 * of the queue would pass someone's cap. Caps: free 2, pro 3.
 */
describe('the fair claim, user by user', () => {
  let t: TestApp;
  let lifecycle: JobLifecycle;

  beforeAll(async () => {
    t = await startTestApp({ ROLE: 'api', QUEUE_MAX_RUNNING_FREE: '2', QUEUE_MAX_RUNNING_PRO: '3' });
    lifecycle = t.app.get(JobLifecycle);
  });

  afterAll(async () => {
    await t?.close();
  });

  const queue = (userId: string, count: number, priority: number, status = 'queued') =>
    t.db.pool.query(
      `INSERT INTO jobs (user_id, type, input, priority, status, started_at, locked_by, lease_expires_at)
       SELECT $1, 'echo', jsonb_build_object('n', n), $3, $4,
              CASE WHEN $4 = 'running' THEN now() END, CASE WHEN $4 = 'running' THEN 'elsewhere' END,
              CASE WHEN $4 = 'running' THEN now() + interval '1 hour' END
         FROM generate_series(1, $2) n`,
      [userId, count, priority, status],
    );

  const byUser = (claimed: Array<{ user_id: string }>): Record<string, number> => {
    const counts: Record<string, number> = {};
    for (const job of claimed) counts[job.user_id] = (counts[job.user_id] ?? 0) + 1;
    return counts;
  };

  it('passes a capped user’s whole backlog, gives each other user no more than their room, best first', async () => {
    const [capped, pro, free, idle] = await Promise.all([
      createUser(t.db, { tier: 'pro' }),
      createUser(t.db, { tier: 'pro' }),
      createUser(t.db, { tier: 'free' }),
      createUser(t.db, { tier: 'free' }),
    ]);
    await queue(capped.id, 3, 0, 'running'); // at the cap
    await queue(capped.id, 2000, 100); // ahead of everyone
    await queue(pro.id, 1, 0, 'running'); // one of three used
    await queue(pro.id, 5, 50);
    await queue(free.id, 5, 10);
    await queue(idle.id, 1, -5);

    const claimed = await lifecycle.claim('claim-test', 10, 60_000);
    expect(byUser(claimed)).toEqual({ [pro.id]: 2, [free.id]: 2, [idle.id]: 1 });

    // The next claim finds everyone at their cap: nothing, and nothing changed.
    expect(await lifecycle.claim('claim-test', 10, 60_000)).toEqual([]);
    const { rows } = await t.db.pool.query<{ user_id: string; n: number }>(
      `SELECT user_id, count(*)::int AS n FROM jobs WHERE status = 'running' GROUP BY user_id`,
    );
    expect(Object.fromEntries(rows.map((r) => [r.user_id, r.n]))).toEqual({
      [capped.id]: 3,
      [pro.id]: 3,
      [free.id]: 2,
      [idle.id]: 1,
    });
    await t.db.pool.query(`DELETE FROM jobs`);
  });

  it('holds the cap exactly when many workers claim at the same instant', async () => {
    const pro = await createUser(t.db, { tier: 'pro' });
    await queue(pro.id, 50, 0);
    // Eight workers with two free slots each claim together, each on a connection of its own. Each
    // one's head of the queue (two jobs, rows the others hold skipped) passes the cap of 3 on its
    // own; before claim_running_jobs (migration 7) 6 to 10 of them ran.
    const claims = await Promise.all(Array.from({ length: 8 }, (_, i) => lifecycle.claim(`claimer-${i}`, 2, 60_000)));
    expect(claims.flat()).toHaveLength(3);
    const { rows } = await t.db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM jobs WHERE status = 'running'`,
    );
    expect(rows[0].n).toBe(3);
    await t.db.pool.query(`DELETE FROM jobs`);
  });

  it('takes the head of the queue as it is, in priority order, when it passes nobody’s cap', async () => {
    const [a, b] = await Promise.all([createUser(t.db, { tier: 'pro' }), createUser(t.db, { tier: 'pro' })]);
    await queue(a.id, 2, 5);
    await queue(b.id, 2, 7);
    await queue(a.id, 2, 1);
    const claimed = await lifecycle.claim('claim-test', 4, 60_000);
    const priorities = await t.db.pool.query<{ priority: number }>(
      `SELECT priority FROM jobs WHERE id = ANY($1::uuid[]) ORDER BY priority DESC`,
      [claimed.map((j) => j.id)],
    );
    expect(priorities.rows.map((r) => r.priority)).toEqual([7, 7, 5, 5]);
    await t.db.pool.query(`DELETE FROM jobs`);
  });
});
