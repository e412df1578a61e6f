import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
