import { createClient } from '@redis/client';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { CacheFastPath } from '../src/modules/cache/cache-fast-path.js';
import { CacheService } from '../src/modules/cache/cache.service.js';
import { RedisService } from '../src/redis/redis.service.js';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';
import { waitForStatus } from './helpers/conditions.js';
import { freePort } from './helpers/ports.js';
import { startBlackHole, startRedis, stopRedis } from './helpers/redis-server.js';
import { waitFor } from './helpers/wait.js';

// Generous limits: these tests count cache hits, not requests.
const ENV = {
  WORKER_POLL_INTERVAL_MS: '100',
  RATE_LIMIT_PER_MINUTE_FREE: '100000',
  RATE_LIMIT_PER_MINUTE_PRO: '100000',
  RATE_LIMIT_PER_MINUTE_ENTERPRISE: '100000',
};
/** A request that waited on a hung cache would take seconds; one that bypassed it takes milliseconds. */
const FAST_MS = 1000;

const apps: TestApp[] = [];
const servers: ChildProcess[] = [];
// Each test's instances go when it ends: kept to the end of the file, they exhausted PostgreSQL's connections.
afterEach(async () => {
  for (const app of apps.splice(0).reverse()) await app.close();
});
afterAll(async () => {
  for (const server of servers) await stopRedis(server);
});

async function start(env: Record<string, string>, shared?: TestApp): Promise<TestApp> {
  const app = await startTestApp({ ...ENV, ...env }, shared?.db);
  apps.push(app);
  return app;
}

async function closeWithin(t: TestApp, ms: number): Promise<string> {
  apps.splice(apps.indexOf(t), 1);
  const closed = t.close().then(() => 'closed');
  const late = new Promise<string>((resolve) => setTimeout(resolve, ms, `still closing after ${ms} ms`));
  return Promise.race([closed, late]);
}

/** A job that stays queued for `delayMs` (runAt), then sleeps `ms`. */
async function createJob(t: TestApp, user: TestUser, delayMs = 60_000, ms = 10): Promise<string> {
  const res = await t.request({
    method: 'POST',
    url: '/api/v1/jobs',
    key: user.key,
    body: { type: 'sleep', input: { ms }, runAt: new Date(Date.now() + delayMs).toISOString() },
  });
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

const getJob = (t: TestApp, user: TestUser, id: string) =>
  t.request({ method: 'GET', url: `/api/v1/jobs/${id}`, key: user.key });

async function untilRedisReady(t: TestApp): Promise<void> {
  await waitFor('the app to be connected to Redis', () => t.app.get(RedisService).ready, Boolean, { timeout: 15_000 });
}

describe.each([
  ['Redis', true],
  ['in memory (REDIS_URL unset)', false],
])('response cache, %s', (_name, withRedis) => {
  const env = (): Record<string, string> => (withRedis ? { REDIS_URL: inject('redisUrl') } : {});

  it('answers MISS, then HIT with the same body', async () => {
    const t = await start(env());
    if (withRedis) await untilRedisReady(t);
    const user = await createUser(t.db);
    const id = await createJob(t, user);
    const first = await getJob(t, user, id);
    expect(first.status).toBe(200);
    expect(first.headers['x-cache']).toBe('MISS');
    const second = await getJob(t, user, id);
    expect(second.status).toBe(200);
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.body).toEqual(first.body);
    expect(second.headers['content-type']).toBe(first.headers['content-type']);
  });

  it('never serves one user’s cached job to another (404, the same as an unknown id)', async () => {
    const t = await start(env());
    if (withRedis) await untilRedisReady(t);
    const a = await createUser(t.db);
    const b = await createUser(t.db);
    const id = await createJob(t, a);
    await getJob(t, a, id);
    expect((await getJob(t, a, id)).headers['x-cache']).toBe('HIT');
    const other = await getJob(t, b, id);
    expect(other.status).toBe(404);
    expect(other.body.code).toBe('NOT_FOUND');
    expect(JSON.stringify(other.body)).not.toContain(a.id);
  });

  it('shows a cancel in the very next read (invalidated before the cancel is answered)', async () => {
    const t = await start(env());
    if (withRedis) await untilRedisReady(t);
    const user = await createUser(t.db);
    const id = await createJob(t, user);
    await getJob(t, user, id);
    expect((await getJob(t, user, id)).body.status).toBe('queued');
    const cancel = await t.request({ method: 'POST', url: `/api/v1/jobs/${id}/cancel`, key: user.key });
    expect(cancel.status).toBe(200);
    const after = await getJob(t, user, id);
    expect(after.headers['x-cache']).toBe('MISS');
    expect(after.body.status).toBe('cancelled');
  });

  it('follows each transition, queued → running → completed, and caches the result', async () => {
    const t = await start(env());
    if (withRedis) await untilRedisReady(t);
    const user = await createUser(t.db);
    const id = await createJob(t, user, 1500, 800);
    await getJob(t, user, id);
    const cached = await getJob(t, user, id);
    expect(cached.headers['x-cache']).toBe('HIT');
    expect(cached.body.status).toBe('queued');
    // The entry lives 10 s: seeing each status well within that proves the invalidation.
    await waitForStatus(t, user.key, `/api/v1/jobs/${id}`, ['running'], { timeout: 5000 });
    await waitForStatus(t, user.key, `/api/v1/jobs/${id}`, ['completed'], { timeout: 5000 });
    const result = await t.request({ method: 'GET', url: `/api/v1/jobs/${id}/result`, key: user.key });
    expect(result.status).toBe(200);
    expect(result.headers['x-cache']).toBe('MISS');
    // The completion's NOTIFY may still arrive and drop a copy written before it: wait for a hit.
    const again = await waitFor(
      'GET /jobs/{id}/result to be a cache hit',
      () => t.request({ method: 'GET', url: `/api/v1/jobs/${id}/result`, key: user.key }),
      (res) => res.headers['x-cache'] === 'HIT',
      { timeout: 3000 },
    );
    expect(again.body).toEqual(result.body);
  });

  it('does not cache errors: a result requested too early is read again once the job ends', async () => {
    const t = await start(env());
    if (withRedis) await untilRedisReady(t);
    const user = await createUser(t.db);
    const id = await createJob(t, user, 0, 300);
    const early = await t.request({ method: 'GET', url: `/api/v1/jobs/${id}/result`, key: user.key });
    expect(early.status).toBe(409);
    await waitForStatus(t, user.key, `/api/v1/jobs/${id}`, ['completed'], { timeout: 5000 });
    const late = await t.request({ method: 'GET', url: `/api/v1/jobs/${id}/result`, key: user.key });
    expect(late.status).toBe(200);
  });

  it('caches a batch and a pipeline run, and shows their jobs’ progress made by a worker elsewhere (entries live 5 s)', async () => {
    // An API instance with no worker: nothing moves until the worker instance starts.
    const t = await start({ ...env(), ROLE: 'api' });
    if (withRedis) await untilRedisReady(t);
    const user = await createUser(t.db);
    const batch = await t.request({
      method: 'POST',
      url: '/api/v1/batches',
      key: user.key,
      body: {
        items: [
          { type: 'sleep', input: { ms: 200 } },
          { type: 'sleep', input: { ms: 200 } },
        ],
      },
    });
    expect(batch.status, batch.text).toBe(201);
    const pipeline = await t.request({
      method: 'POST',
      url: '/api/v1/pipelines',
      key: user.key,
      body: { name: 'two sleeps', steps: [{ type: 'sleep' }, { type: 'sleep' }] },
    });
    expect(pipeline.status, pipeline.text).toBe(201);
    const run = await t.request({
      method: 'POST',
      url: `/api/v1/pipelines/${pipeline.body.id}/runs`,
      key: user.key,
      body: { input: { ms: 200 } },
    });
    expect(run.status, run.text).toBe(201);
    const batchUrl = `/api/v1/batches/${batch.body.id}`;
    const runUrl = `/api/v1/pipeline-runs/${run.body.id}`;
    for (const url of [batchUrl, runUrl]) {
      expect((await t.request({ method: 'GET', url, key: user.key })).headers['x-cache'], url).toBe('MISS');
      const cached = await t.request({ method: 'GET', url, key: user.key });
      expect(cached.headers['x-cache'], url).toBe('HIT');
      expect(cached.body.status, url).toMatch(/^(in_progress|running)$/);
    }

    const worker = await start({ ...env(), ROLE: 'worker' }, t);
    if (withRedis) await untilRedisReady(worker);
    const done = await waitForStatus(t, user.key, batchUrl, ['completed'], { timeout: 4000 });
    expect(done.counts.completed).toBe(2);
    await waitForStatus(t, user.key, runUrl, ['completed'], { timeout: 4000 });
  });

  it.each(['/api/v1/job-types', '/api/v1/webhooks/event-types'])('caches the catalog %s per user', async (url) => {
    const t = await start(env());
    if (withRedis) await untilRedisReady(t);
    const user = await createUser(t.db);
    const first = await t.request({ method: 'GET', url, key: user.key });
    const second = await t.request({ method: 'GET', url, key: user.key });
    expect([first.headers['x-cache'], second.headers['x-cache']]).toEqual(['MISS', 'HIT']);
    expect(second.body).toEqual(first.body);
    const other = await createUser(t.db);
    expect((await t.request({ method: 'GET', url, key: other.key })).headers['x-cache']).toBe('MISS');
    // Cache-Control: no-cache asks for the source.
    const fresh = await t.request({ method: 'GET', url, key: user.key, headers: { 'cache-control': 'no-cache' } });
    expect(fresh.headers['x-cache']).toBe('MISS');
    expect(fresh.body).toEqual(first.body);
  });

  it('invalidates another instance’s copy when a job changes (NOTIFY)', async () => {
    const a = await start(env());
    const b = await start({ ...env(), ROLE: 'api' }, a);
    if (withRedis) await Promise.all([untilRedisReady(a), untilRedisReady(b)]);
    const user = await createUser(a.db);
    const id = await createJob(a, user);
    await getJob(b, user, id);
    expect((await getJob(b, user, id)).headers['x-cache']).toBe('HIT');
    expect((await a.request({ method: 'POST', url: `/api/v1/jobs/${id}/cancel`, key: user.key })).status).toBe(200);
    // Asynchronous across instances, but far within the entry's 10 s.
    await waitForStatus(b, user.key, `/api/v1/jobs/${id}`, ['cancelled'], { timeout: 3000 });
  });
});

describe('read-your-writes on every instance (Redis)', () => {
  it('a client’s cancel or retry is never served from another instance’s older copy, even before it hears of it', async () => {
    const a = await start({ REDIS_URL: inject('redisUrl') });
    const b = await start({ REDIS_URL: inject('redisUrl'), ROLE: 'api' }, a);
    await Promise.all([untilRedisReady(a), untilRedisReady(b)]);
    const user = await createUser(a.db);
    const id = await createJob(a, user);
    await getJob(b, user, id);
    expect((await getJob(b, user, id)).headers['x-cache']).toBe('HIT');

    // B hears of no change from here on (its notifications held back): only the versions moved in
    // Redis before each answer can keep B from serving its copy.
    const cacheB = b.app.get(CacheService);
    const invalidate = cacheB.invalidate.bind(cacheB);
    const held: string[][] = [];
    cacheB.invalidate = (keys: string[]) => void held.push(keys);
    try {
      expect((await a.request({ method: 'POST', url: `/api/v1/jobs/${id}/cancel`, key: user.key })).status).toBe(200);
      const afterCancel = await getJob(b, user, id);
      expect(afterCancel.body.status).toBe('cancelled');
      expect(afterCancel.headers['x-cache']).toBe('MISS');
      // Cached again on B (at the new version), then a retry through A: the same.
      expect((await getJob(b, user, id)).headers['x-cache']).toBe('HIT');
      expect((await a.request({ method: 'POST', url: `/api/v1/jobs/${id}/retry`, key: user.key })).status).toBe(200);
      const afterRetry = await getJob(b, user, id);
      // Queued again (run at once: A's worker may have started it already).
      expect(['queued', 'running', 'completed']).toContain(afterRetry.body.status);
      expect(afterRetry.headers['x-cache']).toBe('MISS');
    } finally {
      cacheB.invalidate = invalidate;
      for (const keys of held) invalidate(keys);
    }

    // A copy read before a change cannot be put back after it: the store keeps a value only if the
    // key's version is still the one read before the database was. (A key of its own: the retried
    // job above may be claimed and completed by A's worker meanwhile, which deletes its key.)
    const cacheA = a.app.get(CacheService);
    const key = `job:${user.id}:${randomUUID()}`;
    expect(await cacheA.currentVersion(key)).toBe(0);
    await cacheA.acknowledge([key]);
    expect(await cacheA.currentVersion(key)).toBe(1);
    const redis = createClient({ url: inject('redisUrl') });
    await redis.connect();
    try {
      await cacheA.put(key, { stale: true }, 60_000, cacheA.begin(), 0);
      expect(await redis.get(`conveyor:cache:${key}`)).toBeNull();
      await cacheA.put(key, { fresh: true }, 60_000, cacheA.begin(), 1);
      expect(JSON.parse((await redis.get(`conveyor:cache:${key}`))!)).toEqual({ fresh: true });
    } finally {
      await redis.quit();
    }
  });
});

describe.each([
  ['Redis', true],
  ['in memory (REDIS_URL unset)', false],
])('cached reads answered before Nest, %s', (_name, withRedis) => {
  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    ...(withRedis ? { REDIS_URL: inject('redisUrl') } : {}),
    ...extra,
  });
  /** Headers whose values differ from one response to the next. */
  const VARYING = new Set([
    'date',
    'x-request-id',
    'x-cache',
    'ratelimit',
    'x-ratelimit-remaining',
    'x-ratelimit-reset',
  ]);

  it('sends the same body and headers as Nest, after the same authentication, and logs the request', async () => {
    const t = await start(env());
    if (withRedis) await untilRedisReady(t);
    const fastPath = t.app.get(CacheFastPath);
    const user = await createUser(t.db);
    const id = await createJob(t, user);
    const viaNest = await getJob(t, user, id);
    expect(viaNest.headers['x-cache']).toBe('MISS');
    const before = fastPath.served;
    const early = await getJob(t, user, id);
    expect(fastPath.served).toBe(before + 1);
    expect(early.status).toBe(200);
    expect(early.headers['x-cache']).toBe('HIT');
    expect(early.text).toBe(viaNest.text);
    const fixed = (headers: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(headers).filter(([name]) => !VARYING.has(name)));
    expect(fixed(early.headers)).toEqual(fixed(viaNest.headers));
    expect(early.headers['x-ratelimit-remaining']).toBeDefined();
    const line = t.logs.find((l) => l.requestId === early.headers['x-request-id'] && l.msg === 'request completed');
    expect(line).toMatchObject({ statusCode: 200, userId: user.id, url: `/api/v1/jobs/${id}` });

    // Another user's key: no copy under their key, so Nest answers, with the usual 404.
    const other = await createUser(t.db);
    expect((await getJob(t, other, id)).status).toBe(404);
    // A key that is not one: the guard's 401, even though a copy exists.
    expect(
      (await t.request({ method: 'GET', url: `/api/v1/jobs/${id}`, key: 'cvk_not-a-key-at-all-0000' })).status,
    ).toBe(401);
    // No-cache and query strings go to Nest.
    const served = fastPath.served;
    await t.request({
      method: 'GET',
      url: `/api/v1/jobs/${id}`,
      key: user.key,
      headers: { 'cache-control': 'no-cache' },
    });
    expect(fastPath.served).toBe(served);
  });

  it('charges the rate limit like any request: 429 with Retry-After past the limit', async () => {
    const t = await start(env({ RATE_LIMIT_PER_MINUTE_FREE: '4' }));
    if (withRedis) await untilRedisReady(t);
    const user = await createUser(t.db);
    const id = await createJob(t, user); // 1
    await getJob(t, user, id); // 2, Nest (fills the cache)
    expect((await getJob(t, user, id)).headers['x-ratelimit-remaining']).toBe('1'); // 3, before Nest
    expect((await getJob(t, user, id)).status).toBe(200); // 4
    const refused = await getJob(t, user, id);
    expect(refused.status).toBe(429);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    expect(refused.body.code).toBe('RATE_LIMITED');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('keys ids as the database spells them: an upper-case id is invalidated too', async () => {
    const t = await start(env());
    if (withRedis) await untilRedisReady(t);
    const user = await createUser(t.db);
    const id = await createJob(t, user);
    const upper = (url: string) => t.request({ method: 'GET', url, key: user.key });
    await upper(`/api/v1/jobs/${id.toUpperCase()}`);
    expect((await upper(`/api/v1/jobs/${id.toUpperCase()}`)).headers['x-cache']).toBe('HIT');
    expect((await t.request({ method: 'POST', url: `/api/v1/jobs/${id}/cancel`, key: user.key })).status).toBe(200);
    expect((await upper(`/api/v1/jobs/${id.toUpperCase()}`)).body.status).toBe('cancelled');
  });

  it('stops answering for a revoked key at once', async () => {
    const t = await start(env());
    if (withRedis) await untilRedisReady(t);
    const user = await createUser(t.db);
    const id = await createJob(t, user);
    await getJob(t, user, id);
    expect((await getJob(t, user, id)).headers['x-cache']).toBe('HIT');
    const keys = await t.request({ method: 'GET', url: '/api/v1/me/api-keys', key: user.key });
    const keyId = keys.body.data[0].id as string;
    expect((await t.request({ method: 'DELETE', url: `/api/v1/me/api-keys/${keyId}`, key: user.key })).status).toBe(
      204,
    );
    expect((await getJob(t, user, id)).status).toBe(401);
  });
});

describe('response cache when Redis fails', () => {
  it('answers every request (from PostgreSQL, then the instance’s own copy) while Redis refuses connections, and closes', async () => {
    const t = await start({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    const user = await createUser(t.db);
    const id = await createJob(t, user);
    for (let i = 0; i < 5; i += 1) {
      const started = performance.now();
      const res = await getJob(t, user, id);
      expect(performance.now() - started, `request ${i}`).toBeLessThan(FAST_MS);
      expect(res.status).toBe(200);
      expect(res.headers['x-cache']).toBe(i === 0 ? 'MISS' : 'HIT');
    }
    expect(await closeWithin(t, 10_000)).toBe('closed');
  });

  it('answers every request (from PostgreSQL, then the instance’s own copy) while Redis accepts connections and never answers, and closes', async () => {
    const hole = await startBlackHole();
    try {
      const t = await start({ REDIS_URL: `redis://127.0.0.1:${hole.port}` });
      await waitFor('the app to have connected to the black hole', () => hole.sockets.size > 0);
      const user = await createUser(t.db);
      const id = await createJob(t, user);
      for (let i = 0; i < 5; i += 1) {
        const started = performance.now();
        const res = await getJob(t, user, id);
        expect(performance.now() - started, `request ${i}`).toBeLessThan(FAST_MS);
        expect(res.status).toBe(200);
        expect(res.headers['x-cache']).toBe(i === 0 ? 'MISS' : 'HIT');
      }
      expect(await closeWithin(t, 10_000)).toBe('closed');
    } finally {
      await hole.close();
    }
  });

  it('goes on when Redis stops or hangs mid-run, and caches again by itself once it is back', async () => {
    const port = await freePort();
    let redis = await startRedis(port);
    servers.push(redis);
    // Without the in-process level, so that every lookup goes to Redis (that level keeps serving
    // through an outage: see the next test).
    const t = await start({ REDIS_URL: `redis://127.0.0.1:${port}`, CACHE_L1_TTL_MS: '0' });
    await untilRedisReady(t);
    const user = await createUser(t.db);
    const id = await createJob(t, user);
    await getJob(t, user, id);
    expect((await getJob(t, user, id)).headers['x-cache']).toBe('HIT');

    // Hung: the process is paused, its socket stays open and silent.
    process.kill(redis.pid!, 'SIGSTOP');
    try {
      // The cache's own bound, before anything else (the rate limiter) has noticed and suspended Redis.
      const started = performance.now();
      expect(await t.app.get(CacheService).lookup(`job:${user.id}:${id}`)).toEqual({ hit: false });
      expect(performance.now() - started, 'a lookup while Redis hangs').toBeLessThan(FAST_MS);
      for (let i = 0; i < 3; i += 1) {
        const started = performance.now();
        const res = await getJob(t, user, id);
        expect(performance.now() - started, `request ${i} while Redis hangs`).toBeLessThan(FAST_MS);
        expect(res.status).toBe(200);
      }
    } finally {
      process.kill(redis.pid!, 'SIGCONT');
    }

    // Gone: killed outright.
    await stopRedis(redis);
    for (let i = 0; i < 3; i += 1) {
      const started = performance.now();
      const res = await getJob(t, user, id);
      expect(performance.now() - started, `request ${i} while Redis is down`).toBeLessThan(FAST_MS);
      expect(res.status).toBe(200);
      expect(res.headers['x-cache']).toBe('MISS');
    }
    expect((await t.request({ method: 'POST', url: `/api/v1/jobs/${id}/cancel`, key: user.key })).status).toBe(200);

    redis = await startRedis(port);
    servers.push(redis);
    await untilRedisReady(t);
    const other = await createJob(t, user);
    await waitFor(
      'GET /jobs/{id} to be a cache hit again',
      async () => (await getJob(t, user, other)).headers['x-cache'],
      (value) => value === 'HIT',
      { timeout: 15_000, interval: 100 },
    );
    expect((await getJob(t, user, id)).body.status).toBe('cancelled');
    expect(await closeWithin(t, 10_000)).toBe('closed');
  });

  it('serves the instance’s own copies through a Redis outage, and still drops them on a change', async () => {
    const port = await freePort();
    const redis = await startRedis(port);
    servers.push(redis);
    const t = await start({ REDIS_URL: `redis://127.0.0.1:${port}` });
    await untilRedisReady(t);
    const user = await createUser(t.db);
    const id = await createJob(t, user);
    await getJob(t, user, id);
    expect((await getJob(t, user, id)).headers['x-cache']).toBe('HIT');

    await stopRedis(redis);
    const started = performance.now();
    const during = await getJob(t, user, id);
    expect(performance.now() - started).toBeLessThan(FAST_MS);
    expect(during.headers['x-cache']).toBe('HIT');
    expect(during.body.status).toBe('queued');
    // The change is on the feed (PostgreSQL), not in Redis: the local copy goes at once.
    expect((await t.request({ method: 'POST', url: `/api/v1/jobs/${id}/cancel`, key: user.key })).status).toBe(200);
    const after = await getJob(t, user, id);
    expect(after.headers['x-cache']).toBe('MISS');
    expect(after.body.status).toBe('cancelled');
    expect(t.app.get(CacheService).stats().levels.l1.hits).toBeGreaterThanOrEqual(2);
  });
});

describe('cache admin API', () => {
  const redisUrl = (): string => inject('redisUrl');

  it('is for admins only', async () => {
    const t = await start({ REDIS_URL: redisUrl() });
    const user = await createUser(t.db);
    const calls = [
      { method: 'GET', url: '/api/v1/cache/health' },
      { method: 'GET', url: '/api/v1/cache/stats' },
      { method: 'GET', url: '/api/v1/cache/some:key' },
      { method: 'POST', url: '/api/v1/cache/some:key', body: { value: 1 } },
      { method: 'DELETE', url: '/api/v1/cache/some:key' },
      { method: 'DELETE', url: '/api/v1/cache?prefix=some' },
    ] as const;
    for (const call of calls) {
      const res = await t.request({ ...call, key: user.key });
      expect(res.status, `${call.method} ${call.url}`).toBe(403);
    }
    expect((await t.request({ method: 'GET', url: '/api/v1/cache/stats' })).status).toBe(401);
  });

  it('reads, writes and deletes entries, by key and by prefix, with keys and sizes checked', async () => {
    const t = await start({ REDIS_URL: redisUrl(), CACHE_MAX_VALUE_BYTES: '2048' });
    await untilRedisReady(t);
    const admin = await createUser(t.db, { role: 'admin' });
    const as = (method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown) =>
      t.request({ method, url: `/api/v1/cache${url}`, key: admin.key, body });
    const prefix = `t-${randomUUID()}`;

    const health = await as('GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ store: 'redis', status: 'up' });

    const written = await as('POST', `/${prefix}:a`, { value: { n: 1 }, ttlSeconds: 60 });
    expect(written.status).toBe(201);
    expect(written.body).toEqual({ key: `${prefix}:a`, value: { n: 1 }, ttlSeconds: 60 });
    expect((await as('POST', `/${prefix}:b`, { value: 'two' })).status).toBe(201);
    const read = await as('GET', `/${prefix}:a`);
    expect(read.status).toBe(200);
    expect(read.body.value).toEqual({ n: 1 });
    expect(read.body.ttlSeconds).toBeGreaterThan(50);
    expect(read.body.ttlSeconds).toBeLessThanOrEqual(60);

    // Stored in the shared Redis, under the cache's namespace.
    const client = createClient({ url: redisUrl() });
    await client.connect();
    try {
      expect(await client.get(`conveyor:cache:${prefix}:a`)).toBe('{"n":1}');
    } finally {
      client.destroy();
    }

    expect((await as('DELETE', `/${prefix}:a`)).status).toBe(204);
    expect((await as('GET', `/${prefix}:a`)).status).toBe(404);
    expect((await as('DELETE', `/${prefix}:a`)).status).toBe(404);
    expect((await as('POST', `/${prefix}:c`, { value: 3 })).status).toBe(201);
    const cleared = await as('DELETE', `?prefix=${prefix}:`);
    expect(cleared.status).toBe(200);
    expect(cleared.body).toEqual({ deleted: 2 });
    expect((await as('GET', `/${prefix}:b`)).status).toBe(404);

    expect((await as('GET', '/bad*key')).status).toBe(400);
    expect((await as('GET', `/${'k'.repeat(101)}`)).status).not.toBe(200);
    expect((await as('DELETE', '?prefix=*')).status).toBe(422);
    expect((await as('DELETE', '')).status).toBe(422);
    expect((await as('POST', `/${prefix}:big`, { value: 'x'.repeat(3000) })).status).toBe(413);
    expect((await as('POST', `/${prefix}:ttl`, { value: 1, ttlSeconds: 0 })).status).toBe(422);
    expect((await as('POST', `/${prefix}:none`, {})).status).toBe(422);
  });

  it('counts hits and misses since start', async () => {
    const t = await start({ REDIS_URL: redisUrl() });
    await untilRedisReady(t);
    const admin = await createUser(t.db, { role: 'admin' });
    const user = await createUser(t.db);
    const id = await createJob(t, user);
    for (let i = 0; i < 4; i += 1) await getJob(t, user, id);
    const stats = await t.request({ method: 'GET', url: '/api/v1/cache/stats', key: admin.key });
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({ store: 'redis', hits: 3, misses: 1, hitRate: 0.75, errors: 0 });
  });

  it('answers 503 for entries while Redis is unreachable, and health says down', async () => {
    const t = await start({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    const admin = await createUser(t.db, { role: 'admin' });
    const res = await t.request({ method: 'GET', url: '/api/v1/cache/some:key', key: admin.key });
    expect(res.status).toBe(503);
    const health = await t.request({ method: 'GET', url: '/api/v1/cache/health', key: admin.key });
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ store: 'redis', status: 'down' });
  });
});
