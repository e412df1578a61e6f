import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createUser, type TestUser } from './helpers/app.js';
import type { TestDatabase } from './helpers/database.js';
import { serverDatabase, startPgCluster, type PgCluster } from './helpers/pg-cluster.js';
import { freePort } from './helpers/ports.js';
import { startService, waitForReady, type ServiceProcess } from './helpers/process.js';
import { Receiver } from './helpers/receiver.js';
import { ValidatingProxy } from './helpers/validating-proxy.js';

const JOBS = 300;
/** The free tier's limit for this deployment: requests per minute, shared by both API processes. */
const FREE_LIMIT = 10;

interface Instance {
  service: ServiceProcess;
  port: number;
  /** The API's address, through a validating proxy (checked by the last test); a worker's own. */
  base: string;
  proxy?: ValidatingProxy;
}

/**
 * Past one machine: two ROLE=api and two ROLE=worker processes (the built service, as `npm start`
 * runs it) on one PostgreSQL primary with a streaming replica (built by the test) and one Redis.
 * Jobs go in through both APIs while one worker is killed with SIGKILL mid-run; webhooks go to a
 * real receiver.
 */
describe('two API and two worker processes, one PostgreSQL with a replica, one Redis', () => {
  let cluster: PgCluster;
  let db: TestDatabase;
  let receiver: Receiver;
  let user: TestUser;
  let limited: TestUser;
  const apis: Instance[] = [];
  const workers: Instance[] = [];

  async function start(role: 'api' | 'worker'): Promise<Instance> {
    const port = await freePort();
    const service = startService({
      ROLE: role,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: cluster.primary.url,
      DATABASE_REPLICA_URLS: cluster.replica.url,
      REDIS_URL: inject('redisUrl'),
      // The free tier is the one under test; the submitting user is enterprise (limit far away).
      RATE_LIMIT_PER_MINUTE_FREE: String(FREE_LIMIT),
      WORKER_CONCURRENCY: '8',
      WORKER_POLL_INTERVAL_MS: '200',
      WORKER_LEASE_MS: '2000',
      WORKER_SWEEP_INTERVAL_MS: '300',
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32',
      WEBHOOK_POLL_INTERVAL_MS: '100',
      WEBHOOK_TIMEOUT_MS: '2000',
      LOG_LEVEL: 'warn',
    });
    await waitForReady(port, service);
    if (role === 'worker') return { service, port, base: `http://127.0.0.1:${port}` };
    const proxy = await ValidatingProxy.start(`http://127.0.0.1:${port}`);
    return { service, port, base: proxy.url, proxy };
  }

  const call = async (
    instance: Instance,
    method: string,
    path: string,
    key: string,
    body?: unknown,
  ): Promise<{ status: number; body: any; headers: Headers }> => {
    const res = await fetch(instance.base + path, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  };

  beforeAll(async () => {
    cluster = await startPgCluster();
    db = await serverDatabase(cluster.primary.url, { seed: false });
    user = await createUser(db, { tier: 'enterprise' });
    limited = await createUser(db, { tier: 'free' });
    receiver = await Receiver.start();
    receiver.on('/hooks', () => ({ status: 200, delayMs: 2 }));
    apis.push(await start('api'), await start('api'));
    workers.push(await start('worker'), await start('worker'));
  }, 180_000);

  afterAll(async () => {
    for (const instance of apis) await instance.proxy?.close();
    for (const instance of [...apis, ...workers]) {
      instance.service.child.kill('SIGTERM');
      await instance.service.exited;
    }
    await receiver?.close();
    await db?.drop();
    await cluster?.destroy();
  });

  it('shares rate limits and cache invalidation between the API processes', async () => {
    // FREE_LIMIT requests per minute in all, whichever process they reach.
    const statuses: number[] = [];
    for (let i = 0; i < FREE_LIMIT + 4; i += 1) {
      statuses.push((await call(apis[i % 2], 'GET', '/api/v1/me', limited.key)).status);
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(FREE_LIMIT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(4);

    // A job cached by one API is invalidated there when the other API cancels it.
    const created = await call(apis[0], 'POST', '/api/v1/jobs', user.key, {
      type: 'sleep',
      input: { ms: 1 },
      runAt: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect(created.status).toBe(201);
    const path = `/api/v1/jobs/${created.body.id}`;
    // Cached on the second API (the first read fills it; under load a store can be skipped once,
    // so read until it is a hit).
    await expect
      .poll(async () => (await call(apis[1], 'GET', path, user.key)).headers.get('x-cache'), {
        timeout: 5000,
        interval: 50,
      })
      .toBe('HIT');
    const hit = await call(apis[1], 'GET', path, user.key);
    expect(hit.body.status).toBe('queued');
    expect((await call(apis[0], 'POST', `${path}/cancel`, user.key)).status).toBe(200);
    await expect
      .poll(async () => (await call(apis[1], 'GET', path, user.key)).body.status, { timeout: 2000, interval: 20 })
      .toBe('cancelled');
  });

  it('processes every job once, delivers every event, and loses nothing when a worker is killed mid-run', async () => {
    const hook = await call(apis[0], 'POST', '/api/v1/webhooks', user.key, {
      url: `${receiver.url}/hooks`,
      events: ['job.completed'],
    });
    expect(hook.status).toBe(201);

    const count = async (status: string): Promise<number> =>
      (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE status = $1`, [status])).rows[0].n;
    // One worker is killed with SIGKILL once a tenth of the jobs are done, while jobs still come in
    // and some run on it.
    let killedAt: { completed: number; running: number } | undefined;
    const killer = (async () => {
      await expect.poll(() => count('completed'), { timeout: 60_000, interval: 20 }).toBeGreaterThanOrEqual(JOBS / 10);
      workers[0].service.child.kill('SIGKILL');
      await workers[0].service.exited;
      killedAt = { completed: await count('completed'), running: await count('running') };
    })();
    // Jobs through both APIs, 10 requests at a time; one of each round is read back at once from
    // the other API (read-your-writes across instances, with a replica in play).
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i += 10) {
      const created = await Promise.all(
        Array.from({ length: 10 }, (_, j) =>
          call(apis[(i + j) % 2], 'POST', '/api/v1/jobs', user.key, { type: 'sleep', input: { ms: 200 } }),
        ),
      );
      for (const c of created) expect(c.status).toBe(201);
      ids.push(...created.map((c) => c.body.id as string));
      expect((await call(apis[1], 'GET', `/api/v1/jobs/${created[0].body.id}`, user.key)).status).toBe(200);
    }
    await killer;
    expect(killedAt!.running).toBeGreaterThan(0); // it died with jobs in flight
    expect(killedAt!.completed).toBeLessThan(JOBS);

    // The survivor finishes everything (the victim's leases lapse and the sweeper re-queues them).
    await expect
      .poll(
        async () =>
          (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE status = 'completed'`)).rows[0]
            .n,
        { timeout: 60_000, interval: 200 },
      )
      .toBe(JOBS);
    // Once each: one result and one job.completed event per job.
    const { rows: results } = await db.pool.query<{ n: number; jobs: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT job_id)::int AS jobs FROM results`,
    );
    expect(results[0]).toEqual({ n: JOBS, jobs: JOBS });
    const { rows: events } = await db.pool.query<{ n: number; jobs: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT data->>'id')::int AS jobs FROM webhook_events WHERE type = 'job.completed'`,
    );
    expect(events[0]).toEqual({ n: JOBS, jobs: JOBS });

    // Every event reaches the receiver; every delivery ends succeeded.
    const receivedJobs = (): Set<string> =>
      new Set(receiver.at('/hooks').map((r) => (JSON.parse(r.body) as { data: { id: string } }).data.id));
    await expect.poll(() => receivedJobs().size, { timeout: 60_000, interval: 200 }).toBe(JOBS);
    expect(receivedJobs()).toEqual(new Set(ids));
    await expect
      .poll(
        async () =>
          (
            await db.pool.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'succeeded'`,
            )
          ).rows[0].n,
        { timeout: 30_000, interval: 200 },
      )
      .toBe(JOBS);
    // Once per attempt: a POST the receiver got is an attempt the dispatchers recorded. Only one
    // the killed process had sent and not yet recorded can come twice (its lock lapses, it is sent
    // again): at most its in-flight deliveries.
    const { rows: attempts } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM webhook_delivery_attempts`,
    );
    expect(receiver.at('/hooks').length).toBeGreaterThanOrEqual(attempts[0].n);
    expect(receiver.at('/hooks').length - attempts[0].n).toBeLessThanOrEqual(50);
    const dupes =
      receiver.at('/hooks').length - new Set(receiver.at('/hooks').map((r) => r.headers['webhook-id'])).size;
    expect(dupes).toBe(receiver.at('/hooks').length - attempts[0].n);
    // The APIs read lists and details from the replica (a user who has not just written).
    const reader = await createUser(db, { tier: 'enterprise' });
    await cluster.caughtUp();
    await new Promise((resolve) => setTimeout(resolve, 600)); // two replica checks
    expect((await call(apis[0], 'GET', '/api/v1/jobs', reader.key)).status).toBe(200);
    const metrics = await (await fetch(`${apis[0].base}/metrics`)).text();
    expect(Number(/conveyor_db_reads_total\{target="replica"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0);
  });

  it('every answer the API processes gave conforms to docs/openapi.json (validating proxy)', () => {
    for (const api of apis) {
      expect(api.proxy!.checked).toBeGreaterThan(10);
      api.proxy!.expectConforming();
    }
  });
});
