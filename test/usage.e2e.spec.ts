import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';
import { waitForStatus } from './helpers/conditions.js';

/**
 * Issue 11 #5: monthly credits by tier. Work whose cost would pass what is left is 429
 * QUOTA_EXCEEDED and writes nothing; the counters equal the usage records; reports and the
 * billing export add up.
 */
describe('credits, quotas and usage', () => {
  let t: TestApp;
  let admin: TestUser;

  beforeAll(async () => {
    t = await startTestApp({ CREDITS_MONTHLY_FREE: '10', WORKER_POLL_INTERVAL_MS: '100' });
    admin = await createUser(t.db, { role: 'admin', tier: 'enterprise' });
  });

  afterAll(async () => {
    await t?.close();
  });

  const post = (user: TestUser, url: string, body: unknown, headers?: Record<string, string>) =>
    t.request({ method: 'POST', url: `/api/v1${url}`, key: user.key, body, headers });

  async function counts(userId: string): Promise<{ jobs: number; records: number; credits: number; monthly: number }> {
    const { rows } = await t.db.pool.query(
      `SELECT (SELECT count(*)::int FROM jobs WHERE user_id = $1) AS jobs,
              (SELECT count(*)::int FROM usage_records WHERE user_id = $1) AS records,
              (SELECT coalesce(sum(credits), 0)::int FROM usage_records WHERE user_id = $1) AS credits,
              (SELECT coalesce(sum(credits), 0)::int FROM usage_monthly WHERE user_id = $1) AS monthly`,
      [userId],
    );
    return rows[0];
  }

  it('refuses a job, a batch or a run whose cost passes what is left, writing nothing', async () => {
    const user = await createUser(t.db, { tier: 'free' });
    for (let i = 0; i < 4; i += 1) expect((await post(user, '/jobs', { type: 'echo', input: { i } })).status).toBe(201);
    expect((await post(user, '/jobs', { type: 'text.stats', input: { text: 'a b' } })).status).toBe(201);
    expect(await counts(user.id)).toEqual({ jobs: 5, records: 5, credits: 6, monthly: 6 });

    // http.request costs 5; 4 are left.
    const refused = await post(user, '/jobs', {
      type: 'http.request',
      input: { method: 'GET', url: 'https://example.com/' },
    });
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('QUOTA_EXCEEDED');
    expect(refused.body.detail).toContain('This needs 5 credits and 4 of this month');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // A batch of 5 echo jobs (5 credits) is refused whole; one of 4 fits exactly.
    const items = (n: number) => ({ items: Array.from({ length: n }, (_, i) => ({ type: 'echo', input: { i } })) });
    expect((await post(user, '/batches', items(5))).status).toBe(429);
    const { rows: batches } = await t.db.pool.query(`SELECT count(*)::int AS n FROM batches WHERE user_id = $1`, [
      user.id,
    ]);
    expect(batches[0].n).toBe(0);
    expect(await counts(user.id)).toEqual({ jobs: 5, records: 5, credits: 6, monthly: 6 });
    expect((await post(user, '/batches', items(4))).status).toBe(201);
    expect(await counts(user.id)).toEqual({ jobs: 9, records: 9, credits: 10, monthly: 10 });

    // A pipeline run is admitted only if all its steps fit: none are left now.
    const pipeline = await post(user, '/pipelines', { name: 'two', steps: [{ type: 'echo' }, { type: 'echo' }] });
    const run = await post(user, `/pipelines/${pipeline.body.id}/runs`, { input: {} });
    expect(run.status).toBe(429);
    expect(await counts(user.id)).toEqual({ jobs: 9, records: 9, credits: 10, monthly: 10 });
    const { rows: runs } = await t.db.pool.query(`SELECT count(*)::int AS n FROM pipeline_jobs WHERE user_id = $1`, [
      user.id,
    ]);
    expect(runs[0].n).toBe(0);

    // GET /usage says the same.
    const usage = await t.request({ method: 'GET', url: '/api/v1/usage', key: user.key });
    expect(usage.status).toBe(200);
    expect(usage.body).toMatchObject({ tier: 'free', credits: { limit: 10, used: 10, left: 0 } });
    expect(usage.body.byJobType).toEqual([
      { jobType: 'echo', jobs: 8, credits: 8 },
      { jobType: 'text.stats', jobs: 1, credits: 2 },
    ]);

    // A tier change applies at once.
    const upgrade = await t.request({
      method: 'PATCH',
      url: `/api/v1/admin/users/${user.id}`,
      key: admin.key,
      body: { tier: 'pro' },
    });
    expect(upgrade.status).toBe(200);
    expect((await post(user, '/jobs', { type: 'echo', input: {} })).status).toBe(201);
  });

  it('charges once for an Idempotency-Key replay, and never lets concurrent submissions pass the limit', async () => {
    const user = await createUser(t.db, { tier: 'free' });
    const headers = { 'idempotency-key': 'order-1' };
    expect((await post(user, '/jobs', { type: 'echo', input: {} }, headers)).status).toBe(201);
    const replay = await post(user, '/jobs', { type: 'echo', input: {} }, headers);
    expect(replay.status).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(await counts(user.id)).toMatchObject({ jobs: 1, monthly: 1 });

    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => post(user, '/jobs', { type: 'echo', input: { i } })),
    );
    expect(answers.filter((a) => a.status === 201)).toHaveLength(9);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(11);
    expect(await counts(user.id)).toEqual({ jobs: 10, records: 10, credits: 10, monthly: 10 });

    // No credits left: a replay of the used key still answers the original job (it costs nothing),
    // the same key with another body is still 409, and only a new key is 429.
    const late = await post(user, '/jobs', { type: 'echo', input: {} }, headers);
    expect(late.status).toBe(201);
    expect(late.headers['idempotent-replayed']).toBe('true');
    expect(late.body.id).toBe(replay.body.id);
    const other = await post(user, '/jobs', { type: 'echo', input: { other: true } }, headers);
    expect(other.status).toBe(409);
    expect(other.body.code).toBe('IDEMPOTENCY_CONFLICT');
    const fresh = await post(user, '/jobs', { type: 'echo', input: {} }, { 'idempotency-key': 'order-2' });
    expect(fresh.status).toBe(429);
    expect(fresh.body.code).toBe('QUOTA_EXCEEDED');
    expect(await counts(user.id)).toEqual({ jobs: 10, records: 10, credits: 10, monthly: 10 });
  });

  it('holds a run’s credits whole from its admission, and gives back the steps that never ran', async () => {
    const user = await createUser(t.db, { tier: 'free' }); // 10 credits
    const held = async () =>
      (await t.db.pool.query(`SELECT credits_held AS n FROM pipeline_jobs WHERE user_id = $1`, [user.id])).rows[0]?.n;
    // sleep (1), text.stats (2), http.request (5): 8 credits, 8 held at once although one step has started.
    const pipeline = await post(user, '/pipelines', {
      name: 'held',
      steps: [
        { type: 'sleep' },
        { type: 'text.stats', params: { text: 'a b' } },
        { type: 'http.request', params: { method: 'GET', url: 'https://example.com/' } },
      ],
    });
    const run = await post(user, `/pipelines/${pipeline.body.id}/runs`, { input: { ms: 30_000 } });
    expect(run.status).toBe(201);
    expect(await counts(user.id)).toEqual({ jobs: 1, records: 1, credits: 1, monthly: 8 });
    expect(await held()).toBe(7);
    const usage = await t.request({ method: 'GET', url: '/api/v1/usage', key: user.key });
    expect(usage.body.credits).toMatchObject({ limit: 10, used: 8, left: 2 });
    // What is left is what is not held: two echo jobs fit, a third is refused. Without the hold the
    // later steps would find these credits used, and take the month to 13 of 10.
    expect((await post(user, '/jobs', { type: 'echo', input: { n: 1 } })).status).toBe(201);
    expect((await post(user, '/jobs', { type: 'echo', input: { n: 2 } })).status).toBe(201);
    expect((await post(user, '/jobs', { type: 'echo', input: { n: 3 } })).status).toBe(429);
    expect(await counts(user.id)).toEqual({ jobs: 3, records: 3, credits: 3, monthly: 10 });

    // Cancelled during its first step: the two steps that never started are given back.
    const cancelled = await t.request({
      method: 'POST',
      url: `/api/v1/pipeline-runs/${run.body.id}/cancel`,
      key: user.key,
    });
    expect(cancelled.status).toBe(200);
    expect(await counts(user.id)).toEqual({ jobs: 3, records: 3, credits: 3, monthly: 3 });
    expect(await held()).toBe(0);
    // A cancel that finds the run ended already gives nothing back twice.
    expect(
      (await t.request({ method: 'POST', url: `/api/v1/pipeline-runs/${run.body.id}/cancel`, key: user.key })).status,
    ).toBe(409);
    expect(await counts(user.id)).toEqual({ jobs: 3, records: 3, credits: 3, monthly: 3 });
  });

  it('a run whose step fails gives back the steps after it; a run that completes gives back what is left of its hold', async () => {
    const user = await createUser(t.db, { tier: 'pro' });
    // Step 2's input has `text`, which http.request does not accept: it fails at once (INVALID_INPUT).
    const failing = await post(user, '/pipelines', {
      name: 'fails',
      steps: [
        { type: 'echo' },
        { type: 'http.request', params: { method: 'GET', url: 'https://example.com/' } },
        { type: 'text.stats' },
      ],
    });
    const run = await post(user, `/pipelines/${failing.body.id}/runs`, { input: { text: 'x' } });
    expect(run.status).toBe(201);
    await waitForStatus(t, user.key, `/api/v1/pipeline-runs/${run.body.id}`, ['failed']);
    // echo (1) and http.request (5) started and are charged; text.stats (2) never started.
    expect(await counts(user.id)).toEqual({ jobs: 2, records: 2, credits: 6, monthly: 6 });
    const held = async (id: string) =>
      (await t.db.pool.query(`SELECT credits_held::int AS n FROM pipeline_jobs WHERE id = $1`, [id])).rows[0].n;
    expect(await held(run.body.id)).toBe(0);

    // A run that completes gives back whatever is still held: here 3 credits charged apart from
    // the hold while its first step ran (what a worker of the previous version does during a
    // rolling update: it charges a step and leaves the hold alone).
    const twoSteps = await post(user, '/pipelines', { name: 'two', steps: [{ type: 'sleep' }, { type: 'echo' }] });
    const second = await post(user, `/pipelines/${twoSteps.body.id}/runs`, { input: { ms: 400 } });
    expect(second.status).toBe(201);
    await t.db.pool.query(`UPDATE pipeline_jobs SET credits_held = credits_held + 3 WHERE id = $1`, [second.body.id]);
    await t.db.pool.query(`UPDATE usage_monthly SET credits = credits + 3 WHERE user_id = $1`, [user.id]);
    await waitForStatus(t, user.key, `/api/v1/pipeline-runs/${second.body.id}`, ['completed']);
    expect(await counts(user.id)).toEqual({ jobs: 4, records: 4, credits: 8, monthly: 8 });
    expect(await held(second.body.id)).toBe(0);
  });

  it('records each pipeline step as it starts, and the export adds up to the usage records', async () => {
    const user = await createUser(t.db, { tier: 'pro' });
    const pipeline = await post(user, '/pipelines', {
      name: 'three',
      steps: [{ type: 'echo' }, { type: 'text.stats', params: { text: 'x y' } }, { type: 'echo' }],
    });
    const run = await post(user, `/pipelines/${pipeline.body.id}/runs`, { input: {} });
    expect(run.status).toBe(201);
    await waitForStatus(t, user.key, `/api/v1/pipeline-runs/${run.body.id}`, ['completed']);
    expect(await counts(user.id)).toEqual({ jobs: 3, records: 3, credits: 4, monthly: 4 });

    const json = await t.request({ method: 'GET', url: '/api/v1/usage/export?format=json', key: user.key });
    expect(json.status).toBe(200);
    const day = new Date().toISOString().slice(0, 10);
    expect(json.body.data).toEqual([
      { userId: user.id, date: day, jobType: 'echo', jobs: 2, credits: 2 },
      { userId: user.id, date: day, jobType: 'text.stats', jobs: 1, credits: 2 },
    ]);
    const csv = await t.request({ method: 'GET', url: '/api/v1/usage/export', key: user.key });
    expect(csv.headers['content-type']).toContain('text/csv');
    expect(csv.text.trim().split('\n')).toEqual([
      'userId,date,jobType,jobs,credits',
      `${user.id},${day},echo,2,2`,
      `${user.id},${day},text.stats,1,2`,
    ]);

    const all = await t.request({ method: 'GET', url: '/api/v1/admin/usage', key: admin.key });
    expect(all.status).toBe(200);
    expect(all.body.data).toContainEqual({
      userId: user.id,
      email: expect.any(String),
      tier: 'pro',
      credits: { limit: 100_000, used: 4, left: 99_996 },
    });
    expect((await t.request({ method: 'GET', url: '/api/v1/admin/usage', key: user.key })).status).toBe(403);
    const bad = await t.request({ method: 'GET', url: '/api/v1/usage?month=2026-13', key: user.key });
    expect(bad.status).toBe(422);
    const past = await t.request({ method: 'GET', url: '/api/v1/usage?month=2020-01', key: user.key });
    expect(past.body).toMatchObject({ month: '2020-01', credits: { used: 0 }, byJobType: [] });
  });
});
