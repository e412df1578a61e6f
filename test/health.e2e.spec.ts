import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { revertLastMigration, runMigrations } from '../src/database/migrator.js';
import { BACKLOG_COUNT_CAP } from '../src/modules/health/health.sql.js';
import { RedisService } from '../src/redis/redis.service.js';
import { createUser, startTestApp, type TestApp } from './helpers/app.js';
import { freePort } from './helpers/ports.js';
import { waitFor } from './helpers/wait.js';

describe('health probes', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  it('live answers 200 without an API key', async () => {
    const res = await t.request({ method: 'GET', url: '/api/v1/health/live' });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ok');
  });

  it('ready is 200 with the database up and migrations applied', async () => {
    const res = await t.request({ method: 'GET', url: '/api/v1/health/ready' });
    expect(res.status).toBe(200);
    expect(res.body.details).toMatchObject({
      database: { status: 'up' },
      migrations: { status: 'up' },
      lifecycle: { status: 'up' },
    });
  });

  it('ready is 503 while draining, live stays 200', async () => {
    t.lifecycle.draining = true;
    try {
      const res = await t.request({ method: 'GET', url: '/api/v1/health/ready' });
      expect(res.status).toBe(503);
      expect(res.body.details.lifecycle.status).toBe('down');
      expect((await t.request({ method: 'GET', url: '/api/v1/health/live' })).status).toBe(200);
    } finally {
      t.lifecycle.draining = false;
    }
  });
});

describe('readiness with pending migrations', () => {
  it('is 503 until the schema is current', async () => {
    const t = await startTestApp();
    try {
      await revertLastMigration(t.db.url);
      const res = await t.request({ method: 'GET', url: '/api/v1/health/ready' });
      expect(res.status).toBe(503);
      expect(res.body.details.migrations.status).toBe('down');
      await runMigrations(t.db.url);
      expect((await t.request({ method: 'GET', url: '/api/v1/health/ready' })).status).toBe(200);
    } finally {
      await t.close();
    }
  });
});

describe('ROLE=worker', () => {
  it('serves the health probes and nothing of the API', async () => {
    const t = await startTestApp({ ROLE: 'worker' });
    try {
      expect((await t.request({ method: 'GET', url: '/api/v1/health/ready' })).status).toBe(200);
      expect((await t.request({ method: 'GET', url: '/api/v1/health/live' })).status).toBe(200);
      for (const url of ['/api/v1/me', '/api/v1/jobs', '/docs-json']) {
        const res = await t.request({ method: 'GET', url });
        expect(res.status, url).toBe(404);
        expect(res.body.code).toBe('NOT_FOUND');
        expect(res.headers['x-request-id']).toBeDefined();
      }
    } finally {
      await t.close();
    }
  });
});

describe('health with Redis and for operators', () => {
  const apps: TestApp[] = [];
  afterAll(async () => {
    // The instance that shares another's database first: closing the owner drops the database.
    for (const app of apps.splice(0).reverse()) await app.close();
  });

  it('ready stays 200 with Redis unreachable, reporting it degraded; up when it answers', async () => {
    const down = await startTestApp({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    apps.push(down);
    const res = await down.request({ method: 'GET', url: '/api/v1/health/ready' });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('degraded');
    expect(res.body.details.redis).toMatchObject({ status: 'degraded' });

    const up = await startTestApp({ REDIS_URL: inject('redisUrl') }, down.db);
    apps.push(up);
    await waitFor('Redis to be ready', () => up.app.get(RedisService).ready, Boolean);
    const ok = await up.request({ method: 'GET', url: '/api/v1/health/ready' });
    expect(ok.status).toBe(200);
    expect(ok.body.details.redis).toMatchObject({ status: 'up' });
  });

  it('detailed is for admins only, and reports the database, Redis, queue, outbox and process', async () => {
    const t = await startTestApp({ ROLE: 'api', REDIS_URL: inject('redisUrl') });
    apps.push(t);
    const admin = await createUser(t.db, { role: 'admin' });
    const user = await createUser(t.db);
    expect((await t.request({ method: 'GET', url: '/api/v1/health/detailed' })).status).toBe(401);
    expect((await t.request({ method: 'GET', url: '/api/v1/health/detailed', key: user.key })).status).toBe(403);
    await t.request({ method: 'POST', url: '/api/v1/jobs', key: user.key, body: { type: 'echo', input: {} } });
    await waitFor('Redis to be ready', () => t.app.get(RedisService).ready, Boolean);

    const res = await t.request({ method: 'GET', url: '/api/v1/health/detailed', key: admin.key });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'ok',
      role: 'api',
      draining: false,
      database: { status: 'up' },
      replicas: [],
      redis: { status: 'up' },
      queue: { queued: 1, running: 0 },
      webhooks: { backlog: 0, failingEndpoints: 0 },
    });
    expect(res.body.queue.oldestQueuedSeconds).toBeGreaterThanOrEqual(0);
    expect(res.body.memory.rssBytes).toBeGreaterThan(0);
    expect(res.body.disk.totalBytes).toBeGreaterThan(0);
    expect(res.body.eventLoop.lagP99Ms).toBeGreaterThanOrEqual(0);
    expect(res.body.version).toMatch(/^\d+\.\d+\.\d+/);
    // Cached for 2 s: a second job is not seen yet.
    await t.request({ method: 'POST', url: '/api/v1/jobs', key: user.key, body: { type: 'echo', input: {} } });
    const again = await t.request({ method: 'GET', url: '/api/v1/health/detailed', key: admin.key });
    expect(again.body.queue.queued).toBe(1);

    // A backlog past the bound is counted up to it, no further: the probe's cost does not grow
    // with the queue. (Jobs due in an hour: no worker here, and none would take them yet.)
    await t.db.pool.query(
      `INSERT INTO jobs (user_id, type, input, run_at)
       SELECT $1, 'echo', '{}', now() + interval '1 hour' FROM generate_series(1, $2)`,
      [user.id, BACKLOG_COUNT_CAP + 5],
    );
    await waitFor(
      'the cached answer to expire',
      async () =>
        (await t.request({ method: 'GET', url: '/api/v1/health/detailed', key: admin.key })).body.queue.queued,
      (queued) => queued !== 1,
      { timeout: 10_000, interval: 250 },
    );
    const capped = await t.request({ method: 'GET', url: '/api/v1/health/detailed', key: admin.key });
    expect(capped.body.queue.queued).toBe(BACKLOG_COUNT_CAP);
    await t.db.pool.query(`DELETE FROM jobs WHERE user_id = $1`, [user.id]);
  });
});
