import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, type TestUser } from './helpers/app.js';
import type { TestDatabase } from './helpers/database.js';
import { serverDatabase, startPgServer, type PgStandalone } from './helpers/pg-cluster.js';
import { freePort } from './helpers/ports.js';
import { killLeftoverServices, startService, waitForReady, type ServiceProcess } from './helpers/process.js';
import { Receiver } from './helpers/receiver.js';
import { waitFor } from './helpers/wait.js';

const JOBS = 40;

/**
 * A restarted database loses nothing: the service (API, worker and dispatcher in one process, as
 * `npm start` runs it) keeps running while its PostgreSQL crashes (`pg_ctl stop -m immediate`, the
 * connections cut with jobs in flight) and comes back; readiness says so meanwhile, requests get a
 * prompt answer instead of hanging, and afterwards every accepted job completes exactly once and
 * every webhook event is delivered.
 */
describe('PostgreSQL restarted under the service', () => {
  let pgServer: PgStandalone;
  let db: TestDatabase;
  let receiver: Receiver;
  let service: ServiceProcess;
  let base: string;
  let user: TestUser;

  beforeAll(async () => {
    pgServer = await startPgServer();
    const url = pgServer.server.url;
    // Its pool for the test's reads survives the restart too.
    db = await serverDatabase(url);
    user = await createUser(db, { tier: 'enterprise' });
    receiver = await Receiver.start();
    const port = await freePort();
    service = startService({
      DATABASE_URL: url,
      PORT: String(port),
      HOST: '127.0.0.1',
      WORKER_POLL_INTERVAL_MS: '100',
      WORKER_LEASE_MS: '3000',
      WORKER_SWEEP_INTERVAL_MS: '300',
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32',
      WEBHOOK_POLL_INTERVAL_MS: '100',
      LOG_LEVEL: 'warn',
    });
    base = `http://127.0.0.1:${port}`;
    await waitForReady(port, service);
  }, 120_000);

  afterAll(async () => {
    await killLeftoverServices();
    await receiver?.close();
    await db?.drop().catch(() => undefined);
    await pgServer?.destroy();
  });

  const api = async (
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: any; retryAfter: string | null }> => {
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${user.key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      // A request that hangs on the dead database fails the test instead of passing late.
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return {
      status: res.status,
      body: text ? JSON.parse(text) : undefined,
      retryAfter: res.headers.get('retry-after'),
    };
  };
  const ready = async (): Promise<number> =>
    (await fetch(`${base}/api/v1/health/ready`, { signal: AbortSignal.timeout(10_000) })).status;

  it('crashes with jobs in flight, then every accepted job completes once and every event is delivered', async () => {
    const hook = await api('POST', '/webhooks', { url: `${receiver.url}/events`, events: ['job.completed'] });
    expect(hook.status).toBe(201);
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i += 1) {
      const created = await api('POST', '/jobs', { type: 'sleep', input: { ms: 300 } });
      expect(created.status).toBe(201);
      ids.push(created.body.id);
    }
    await waitFor(
      'jobs running and jobs done',
      async () =>
        (
          await db.pool.query<{ running: number; completed: number }>(
            `SELECT count(*) FILTER (WHERE status = 'running')::int AS running,
                    count(*) FILTER (WHERE status = 'completed')::int AS completed FROM jobs`,
          )
        ).rows[0],
      (c) => c.running > 0 && c.completed > 0,
      { timeout: 20_000, interval: 20 },
    );

    await pgServer.stop('immediate');
    try {
      // Down: not ready, and an API request is answered promptly (no hang), with a problem.
      await waitFor('readiness to turn 503', ready, (status) => status === 503, { timeout: 10_000 });
      const during = await api('POST', '/jobs', { type: 'echo', input: { during: true } });
      expect(during.status).toBe(503);
      expect(during.body).toMatchObject({ status: 503, code: 'SERVICE_UNAVAILABLE' });
      expect(during.retryAfter).toBe('1');
      expect(service.child.exitCode).toBeNull();
    } finally {
      await pgServer.start();
    }

    await waitFor('readiness to turn 200 again', ready, (status) => status === 200, { timeout: 30_000 });
    const after = await api('POST', '/jobs', { type: 'echo', input: { after: true } });
    expect(after.status).toBe(201);
    ids.push(after.body.id);

    await waitFor(
      'every accepted job to complete',
      async () =>
        (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE status = 'completed'`)).rows[0]
          .n,
      (n) => n === ids.length,
      { timeout: 60_000, interval: 200, context: service.output },
    );
    const { rows } = await db.pool.query<{ id: string; status: string; results: number }>(
      `SELECT j.id, j.status, (SELECT count(*)::int FROM results r WHERE r.job_id = j.id) AS results FROM jobs j`,
    );
    // Nothing else was created (the request during the outage wrote nothing), each job has one result.
    expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
    expect(rows.every((r) => r.status === 'completed' && r.results === 1)).toBe(true);
    // And completed once: one job.completed event each (a second completion would be a second
    // event; the result's unique index alone would hide it). A job running at the crash ran again.
    const { rows: events } = await db.pool.query<{ job: string; n: number }>(
      `SELECT data ->> 'id' AS job, count(*)::int AS n FROM webhook_events WHERE type = 'job.completed' GROUP BY 1`,
    );
    expect(events.map((e) => e.job).sort()).toEqual([...ids].sort());
    expect(events.every((e) => e.n === 1)).toBe(true);

    // Every job.completed event reached the receiver (at least once: a delivery in flight at the
    // crash may be sent again), and each delivery ended succeeded.
    await waitFor(
      'every delivery to succeed',
      async () =>
        (
          await db.pool.query<{ pending: number }>(
            `SELECT count(*) FILTER (WHERE status <> 'succeeded')::int AS pending FROM webhook_deliveries`,
          )
        ).rows[0].pending,
      (pending) => pending === 0,
      { timeout: 60_000, interval: 200, context: service.output },
    );
    const delivered = new Set(
      receiver.at('/events').map((r) => (JSON.parse(r.body) as { data: { id: string } }).data.id),
    );
    expect([...delivered].sort()).toEqual([...ids].sort());
    expect(service.child.exitCode).toBeNull();
  }, 180_000);
});
