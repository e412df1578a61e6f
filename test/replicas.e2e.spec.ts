import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Db } from '../src/database/db.js';
import { createUser, startTestApp, type TestApp } from './helpers/app.js';
import type { TestDatabase } from './helpers/database.js';
import { serverDatabase, startPgCluster, type PgCluster } from './helpers/pg-cluster.js';

const MAX_LAG_MS = 3000;

describe('read replicas, against a real streaming replica built by the test', () => {
  let cluster: PgCluster;
  let db: TestDatabase;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    cluster = await startPgCluster();
    db = await serverDatabase(cluster.primary.url);
    await cluster.caughtUp();
    const env = {
      ROLE: 'api',
      REDIS_URL: inject('redisUrl'),
      DATABASE_REPLICA_URLS: cluster.replica.url,
      DB_REPLICA_MAX_LAG_MS: String(MAX_LAG_MS),
    };
    // Two instances of one deployment: read-your-writes must hold across them (through Redis).
    a = await startTestApp(env, db);
    b = await startTestApp(env, db);
  }, 120_000);

  afterAll(async () => {
    await b?.close();
    await a?.close();
    await db?.drop();
    await cluster?.destroy();
  });

  const reads = (t: TestApp): Db['reads'] => ({ ...t.app.get(Db).reads });
  const replicaUp = (t: TestApp): boolean => t.app.get(Db).replicaStatus()[0]?.up === true;
  const replicaFresh = (t: TestApp): boolean => {
    const [status] = t.app.get(Db).replicaStatus();
    return status?.up === true && (status.lagMs ?? Infinity) < 500;
  };
  async function settled(): Promise<void> {
    await cluster.caughtUp();
    await expect.poll(() => replicaFresh(a) && replicaFresh(b), { timeout: 10_000, interval: 20 }).toBe(true);
  }

  it('serves reads from the replica, and skips it once it lags past DB_REPLICA_MAX_LAG_MS', async () => {
    const user = await createUser(db);
    const admin = await createUser(db, { role: 'admin' });
    await settled();
    await cluster.pauseReplay();
    try {
      // A job written behind the app's back, on the primary only: the replica cannot have it.
      const {
        rows: [job],
      } = await db.pool.query<{ id: string }>(
        `INSERT INTO jobs (user_id, type, input) VALUES ($1, 'echo', '{}') RETURNING id`,
        [user.id],
      );
      const before = reads(a);
      const early = await a.request({ method: 'GET', url: `/api/v1/jobs/${job.id}`, key: user.key });
      // Served by the replica, which is behind but within the allowed lag (this user wrote nothing).
      expect(early.status).toBe(404);
      expect(reads(a).replica).toBeGreaterThan(before.replica);

      // Once it is further behind than DB_REPLICA_MAX_LAG_MS, reads go to the primary.
      await expect
        .poll(async () => (await a.request({ method: 'GET', url: `/api/v1/jobs/${job.id}`, key: user.key })).status, {
          timeout: MAX_LAG_MS + 5000,
          interval: 100,
        })
        .toBe(200);
      const [status] = a.app.get(Db).replicaStatus();
      expect(status.up).toBe(true);
      expect(status.lagMs).toBeGreaterThan(MAX_LAG_MS);
      const health = await a.request({ method: 'GET', url: '/api/v1/health/detailed', key: admin.key });
      expect(health.status).toBe(200);
      expect(health.body.status).toBe('degraded');
      expect(health.body.replicas).toEqual([
        expect.objectContaining({ name: expect.stringMatching(/^127\.0\.0\.1:\d+\/postgres$/), status: 'up' }),
      ]);
      expect(health.body.replicas[0].lagMs).toBeGreaterThan(MAX_LAG_MS);
      const metrics = await a.app.inject({ method: 'GET', url: '/metrics' });
      expect(metrics.body).toMatch(/conveyor_db_replica_lag_seconds\{replica="127\.0\.0\.1:\d+\/postgres"\} [3-9]/);
      expect(metrics.body).toMatch(/conveyor_db_reads_total\{target="primary"\} [1-9]/);
    } finally {
      await cluster.resumeReplay();
    }
    // Caught up again: the replica serves reads again, and has the row. (A list: GET /jobs/{id} is cached now.)
    await settled();
    const before = reads(b);
    const listed = await b.request({ method: 'GET', url: '/api/v1/jobs', key: user.key });
    expect(listed.body.data).toHaveLength(1);
    expect(reads(b).replica).toBe(before.replica + 1);
  });

  it('a client reads its own writes at once, on every instance, while the replica is behind', async () => {
    const user = await createUser(db);
    const other = await createUser(db);
    await settled();
    await cluster.pauseReplay();
    try {
      const created = await a.request({
        method: 'POST',
        url: '/api/v1/jobs',
        key: user.key,
        body: { type: 'echo', input: { n: 1 } },
      });
      expect(created.status).toBe(201);
      const id = created.body.id as string;
      // On the other instance, at once: its write mark came through Redis.
      const seen = await b.request({ method: 'GET', url: `/api/v1/jobs/${id}`, key: user.key });
      expect(seen.status).toBe(200);
      const listed = await b.request({ method: 'GET', url: '/api/v1/jobs', key: user.key });
      expect(listed.body.data.map((j: { id: string }) => j.id)).toContain(id);
      // A change, read back at once from the other instance.
      const cancelled = await b.request({ method: 'POST', url: `/api/v1/jobs/${id}/cancel`, key: user.key });
      expect(cancelled.status).toBe(200);
      expect(cancelled.body.status).toBe('cancelled');
      expect((await a.request({ method: 'GET', url: `/api/v1/jobs/${id}`, key: user.key })).body.status).toBe(
        'cancelled',
      );
      // Another user, who wrote nothing, is still served by the (lagging, but within bounds) replica.
      const before = reads(b);
      expect((await b.request({ method: 'GET', url: '/api/v1/jobs', key: other.key })).status).toBe(200);
      expect(reads(b).replica).toBe(before.replica + 1);
    } finally {
      await cluster.resumeReplay();
    }
  });

  it('a dead replica is skipped without a failed request, and used again once it is back', async () => {
    const user = await createUser(db);
    const created = await a.request({
      method: 'POST',
      url: '/api/v1/jobs',
      key: user.key,
      body: { type: 'echo', input: {} },
    });
    expect(created.status).toBe(201);
    await settled();
    await cluster.stopReplica();
    try {
      // Whether or not the last check has seen it yet, every read answers (a failed read is retried on the primary).
      for (let i = 0; i < 20; i += 1) {
        const res = await a.request({ method: 'GET', url: '/api/v1/jobs', key: user.key });
        expect(res.status).toBe(200);
        expect(res.body.data[0].id).toBe(created.body.id);
      }
      await expect.poll(() => replicaUp(a), { timeout: 5000, interval: 20 }).toBe(false);
      const before = reads(a);
      expect((await a.request({ method: 'GET', url: '/api/v1/jobs', key: user.key })).status).toBe(200);
      expect(reads(a)).toEqual({ replica: before.replica, primary: before.primary + 1 });
    } finally {
      await cluster.startReplica();
    }
    await settled();
    const before = reads(a);
    expect((await a.request({ method: 'GET', url: '/api/v1/jobs', key: user.key })).status).toBe(200);
    expect(reads(a).replica).toBe(before.replica + 1);
  });
});
