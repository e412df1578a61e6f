import { createClient } from '@redis/client';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { RedisService } from '../src/redis/redis.service.js';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';
import { freePort } from './helpers/ports.js';
import { startRedis as startRedisServer, stopRedis } from './helpers/redis-server.js';
import { waitFor } from './helpers/wait.js';

const LIMITS = {
  RATE_LIMIT_PER_MINUTE_FREE: '5',
  RATE_LIMIT_PER_MINUTE_PRO: '50',
  RATE_LIMIT_PER_MINUTE_ENTERPRISE: '500',
};
const keyOf = (tier: string, user: TestUser): string => `conveyor:ratelimit:${tier}:${user.id}`;

const apps: TestApp[] = [];
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const app of apps.splice(0).reverse()) await app.close();
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

async function start(env: Record<string, string>, shared?: TestApp): Promise<TestApp> {
  const app = await startTestApp(env, shared?.db);
  apps.push(app);
  return app;
}

function redisOf(t: TestApp): RedisService {
  return t.app.get(RedisService);
}

async function untilRedisReady(t: TestApp, timeout = 15_000): Promise<void> {
  await waitFor('the app to be connected to Redis', () => redisOf(t).ready, Boolean, { timeout });
}

const me = (t: TestApp, user: TestUser) => t.request({ method: 'GET', url: '/api/v1/me', key: user.key });

/** A throwaway redis-server on `port` (helpers/redis-server.ts), killed after the file if a test left it. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = await startRedisServer(port);
  children.push(child);
  return child;
}

async function keyExists(url: string, key: string): Promise<boolean> {
  const client = createClient({ url });
  await client.connect();
  try {
    return (await client.exists(key)) === 1;
  } finally {
    client.destroy();
  }
}

describe.each([
  ['in memory (REDIS_URL unset)', false],
  ['through Redis', true],
])('rate limits by tier, one instance, %s', (_name, withRedis) => {
  const env = () => ({ ...LIMITS, ...(withRedis ? { REDIS_URL: inject('redisUrl') } : {}) });

  it('sends the policy and what is left, then 429 RATE_LIMITED with Retry-After', async () => {
    const t = await start(env());
    if (withRedis) await untilRedisReady(t);
    const user = await createUser(t.db);

    const first = await me(t, user);
    expect(first.status).toBe(200);
    expect(first.headers).toMatchObject({
      'ratelimit-policy': '"free";q=5;w=60',
      ratelimit: '"free";r=4;t=12',
      'x-ratelimit-limit': '5',
      'x-ratelimit-remaining': '4',
      'x-ratelimit-reset': '12',
    });
    if (withRedis) expect(await keyExists(inject('redisUrl'), keyOf('free', user))).toBe(true);

    const rest = [];
    for (let i = 0; i < 4; i += 1) rest.push(await me(t, user));
    expect(rest.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(rest.map((r) => r.headers['x-ratelimit-remaining'])).toEqual(['3', '2', '1', '0']);
    expect(rest[3].headers['x-ratelimit-reset']).toBe('60');

    const refused = await me(t, user);
    expect(refused.status).toBe(429);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    expect(refused.body).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(12);
    expect(refused.headers).toMatchObject({
      'ratelimit-policy': '"free";q=5;w=60',
      'x-ratelimit-limit': '5',
      'x-ratelimit-remaining': '0',
    });
    expect(refused.headers.ratelimit).toMatch(/^"free";r=0;t=(59|60)$/);

    // Another user has an allowance of their own; no key at all is a 401, before any limit.
    const other = await createUser(t.db, { tier: 'pro' });
    expect((await me(t, other)).headers.ratelimit).toBe('"pro";r=49;t=2');
    const anonymous = await t.request({ method: 'GET', url: '/api/v1/me' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['x-ratelimit-limit']).toBeUndefined();
  });

  it('charges a webhook test 5 requests', async () => {
    const t = await start({ ...env(), WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32' });
    if (withRedis) await untilRedisReady(t);
    const user = await createUser(t.db, { tier: 'pro' });
    const created = await t.request({
      method: 'POST',
      url: '/api/v1/webhooks',
      key: user.key,
      body: { url: 'http://127.0.0.1:9/hook', events: ['*'] },
    });
    expect(created.status).toBe(201);
    expect(created.headers['x-ratelimit-remaining']).toBe('49');
    const test = await t.request({ method: 'POST', url: `/api/v1/webhooks/${created.body.id}/test`, key: user.key });
    expect(test.status).toBe(202);
    expect(test.headers['x-ratelimit-remaining']).toBe('44');
  });

  it('charges a batch submission 10 requests and a results download 5', async () => {
    const t = await start(env());
    if (withRedis) await untilRedisReady(t);
    const user = await createUser(t.db, { tier: 'pro' });
    const batch = await t.request({
      method: 'POST',
      url: '/api/v1/batches',
      key: user.key,
      body: { items: [{ type: 'echo', input: {} }] },
    });
    expect(batch.status).toBe(201);
    expect(batch.headers['x-ratelimit-remaining']).toBe('40');
    const results = await t.request({ method: 'GET', url: `/api/v1/batches/${batch.body.id}/results`, key: user.key });
    expect(results.status).toBe(200);
    expect(results.headers['x-ratelimit-remaining']).toBe('35');
  });

  it('applies a tier change at once', async () => {
    const t = await start(env());
    if (withRedis) await untilRedisReady(t);
    const admin = await createUser(t.db, { role: 'admin', tier: 'enterprise' });
    const user = await createUser(t.db);
    for (let i = 0; i < 5; i += 1) expect((await me(t, user)).status).toBe(200);
    expect((await me(t, user)).status).toBe(429);

    const patched = await t.request({
      method: 'PATCH',
      url: `/api/v1/admin/users/${user.id}`,
      key: admin.key,
      body: { tier: 'pro' },
    });
    expect(patched.status).toBe(200);
    const after = await me(t, user);
    expect(after.status).toBe(200);
    expect(after.headers['ratelimit-policy']).toBe('"pro";q=50;w=60');
  });
});

describe('rate limits across instances', () => {
  it('never lets more than the limit through two instances sharing Redis', async () => {
    const env = { ...LIMITS, RATE_LIMIT_PER_MINUTE_FREE: '10', REDIS_URL: inject('redisUrl') };
    const a = await start(env);
    const b = await start(env, a);
    await untilRedisReady(a);
    await untilRedisReady(b);
    const user = await createUser(a.db);

    // Waves of four at once, two on each instance: concurrent across instances, without so many at
    // once in this one process that a Redis reply waits past the fail-open timeout.
    const responses: Array<{ at: number; status: number }> = [];
    for (let wave = 0; wave < 10; wave += 1) {
      const statuses = await Promise.all([a, b, a, b].map((t) => me(t, user).then((r) => r.status)));
      responses.push(...statuses.map((status, i) => ({ at: i % 2, status })));
    }
    const allowed = responses.filter((r) => r.status === 200);
    expect(allowed.length).toBeLessThanOrEqual(10);
    // Both instances took part, and the rest were refused rather than failed.
    expect(new Set(allowed.map((r) => r.at)).size).toBe(2);
    expect(responses.filter((r) => r.status !== 200).every((r) => r.status === 429)).toBe(true);
    expect(allowed.length).toBeGreaterThanOrEqual(9);
  });
});

describe('rate limits far beyond any real tier', () => {
  it('keeps the state in Redis when one request’s share of the minute is below the clock’s precision', async () => {
    // 60,000 ms / 1e9 = 0.00006 ms: `now + interval` rounds to `now` at today's epoch, and the
    // script used to SET … PX 0, an error, so every request fell back to the per-instance limiter.
    const t = await start({ RATE_LIMIT_PER_MINUTE_FREE: '1000000000', REDIS_URL: inject('redisUrl') });
    await untilRedisReady(t);
    const user = await createUser(t.db);
    const evalShaCalls = async (): Promise<number> => {
      const client = createClient({ url: inject('redisUrl') });
      await client.connect();
      try {
        return Number(/cmdstat_evalsha:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);
      } finally {
        client.destroy();
      }
    };
    const before = await evalShaCalls();
    for (let i = 0; i < 3; i += 1) expect((await me(t, user)).status).toBe(200);
    // Each request ran the script in Redis, and none failed over to the per-instance limiter.
    expect((await evalShaCalls()) - before).toBeGreaterThanOrEqual(3);
    expect(t.logs.filter((l) => l.context === 'Redis' && l.level !== 'info')).toEqual([]);
  });
});

describe('rate limits when Redis fails', () => {
  it('answers every request quickly while Redis is down, limits per instance, and uses Redis again when it is back', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    let redis = await startRedis(port);
    const t = await start({ ...LIMITS, REDIS_URL: url });
    await untilRedisReady(t);

    const before = await createUser(t.db);
    expect((await me(t, before)).status).toBe(200);
    expect(await keyExists(url, keyOf('free', before))).toBe(true);

    await stopRedis(redis);
    const during = await createUser(t.db);
    const statuses: number[] = [];
    for (let i = 0; i < 7; i += 1) {
      const started = performance.now();
      const res = await me(t, during);
      expect(performance.now() - started, `request ${i} while Redis is down`).toBeLessThan(1000);
      statuses.push(res.status);
    }
    // The per-instance limiter took over: the same limit, counted here.
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);

    redis = await startRedis(port);
    await untilRedisReady(t);
    const after = await createUser(t.db);
    expect((await me(t, after)).status).toBe(200);
    expect(await keyExists(url, keyOf('free', after))).toBe(true);

    // One warning for the outage, however many requests and reconnection attempts it saw.
    const warnings = t.logs.filter((line) => JSON.stringify(line).includes('Redis unavailable'));
    expect(warnings).toHaveLength(1);
    await stopRedis(redis);
  });

  it('answers, limits per instance and closes with a Redis that accepts connections and never answers', async () => {
    const sockets = new Set<net.Socket>();
    const blackHole = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    const port = await freePort();
    await new Promise<void>((resolve) => blackHole.listen(port, '127.0.0.1', resolve));
    try {
      const t = await start({ ...LIMITS, RATE_LIMIT_PER_MINUTE_FREE: '3', REDIS_URL: `redis://127.0.0.1:${port}` });
      await waitFor('the app to have connected to the black hole', () => sockets.size > 0);
      const user = await createUser(t.db);
      const statuses: number[] = [];
      for (let i = 0; i < 4; i += 1) {
        const started = performance.now();
        statuses.push((await me(t, user)).status);
        expect(performance.now() - started, `request ${i}`).toBeLessThan(1000);
      }
      expect(statuses).toEqual([200, 200, 200, 429]);
      expect(redisOf(t).ready).toBe(false);

      apps.splice(apps.indexOf(t), 1);
      const closed = t.close().then(() => 'closed');
      const late = new Promise((resolve) => setTimeout(resolve, 10_000, 'still closing after 10 s')).then(String);
      expect(await Promise.race([closed, late])).toBe('closed');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blackHole.close(resolve));
    }
  });
});

describe('what is never limited', () => {
  it('serves health probes, metrics and the API docs (data endpoints included) however many requests a limited user made', async () => {
    const t = await start({ ...LIMITS, RATE_LIMIT_PER_MINUTE_FREE: '1' });
    const user = await createUser(t.db);
    expect((await me(t, user)).status).toBe(200);
    expect((await me(t, user)).status).toBe(429);

    const admin = await createUser(t.db, { role: 'admin' });
    expect((await me(t, admin)).status).toBe(200);
    expect((await me(t, admin)).status).toBe(429);

    for (let i = 0; i < 5; i += 1) {
      for (const url of [
        '/api/v1/health/live',
        '/api/v1/health/ready',
        '/docs-json',
        '/docs',
        '/metrics',
        '/api/v1/docs/api/overview',
        '/api/v1/docs/endpoints/createJob',
        '/api/v1/docs/errors',
      ]) {
        const res = await t.request({ method: 'GET', url, key: user.key });
        expect(res.status, url).toBe(200);
        expect(res.headers['x-ratelimit-limit'], url).toBeUndefined();
      }
      // Admin only, and not limited either.
      const detailed = await t.request({ method: 'GET', url: '/api/v1/health/detailed', key: admin.key });
      expect(detailed.status).toBe(200);
      expect(detailed.headers['x-ratelimit-limit']).toBeUndefined();
    }
    expect((await me(t, user)).status).toBe(429);
    expect((await me(t, admin)).status).toBe(429);
  });
});
