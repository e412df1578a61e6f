import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueSweeperService } from '../src/modules/queue/worker/queue-sweeper.service.js';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';
import { waitForDeliveriesSettled, waitForIdleWorker } from './helpers/conditions.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { startWorkerProcess, type ServiceProcess } from './helpers/process.js';
import { Receiver } from './helpers/receiver.js';

const ITEMS = 80;
const WORKER_CONCURRENCY = 10;

/** A worker process killed with SIGKILL in the middle of a batch: the batch still ends right, once. */
describe('worker killed mid-batch', () => {
  let db: TestDatabase;
  let api: TestApp;
  let user: TestUser;
  let receiver: Receiver;

  beforeAll(async () => {
    db = await createTestDatabase();
    receiver = await Receiver.start();
    api = await startTestApp({ ROLE: 'api', WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32' }, db);
    user = await createUser(db, { tier: 'pro' });
  });
  afterAll(async () => {
    await api.app.close();
    await receiver.close();
    await db.drop();
  });

  const worker = (): Promise<ServiceProcess> =>
    startWorkerProcess(db.url, { WORKER_CONCURRENCY: String(WORKER_CONCURRENCY) });

  const counts = async (batchId: string) =>
    (await api.request({ method: 'GET', url: `/api/v1/batches/${batchId}`, key: user.key })).body;

  it('completes with correct counts and exactly one batch.completed', async () => {
    const hook = await api.request({
      method: 'POST',
      url: '/api/v1/webhooks',
      key: user.key,
      body: { url: `${receiver.url}/batch`, events: ['batch.completed'] },
    });
    expect(hook.status).toBe(201);
    const items = Array.from({ length: ITEMS }, (_, i) => ({ customId: `i${i}`, type: 'sleep', input: { ms: 150 } }));
    const batch = await api.request({ method: 'POST', url: '/api/v1/batches', key: user.key, body: { items } });
    expect(batch.status).toBe(201);
    const id = batch.body.id;

    const first = await worker();
    await expect
      .poll(async () => (await counts(id)).counts.completed, { timeout: 20_000, interval: 50 })
      .toBeGreaterThan(10);
    expect((await counts(id)).counts.running).toBeGreaterThan(0);
    process.kill(first.pid, 'SIGKILL');
    await first.exited;

    const second = await worker();
    try {
      await expect.poll(async () => (await counts(id)).status, { timeout: 30_000, interval: 100 }).toBe('completed');
      const done = await counts(id);
      expect(done.counts).toEqual({ total: ITEMS, queued: 0, running: 0, completed: ITEMS, failed: 0, cancelled: 0 });
      const results = await db.pool.query(
        `SELECT count(DISTINCT r.job_id)::int AS n FROM results r JOIN jobs j ON j.id = r.job_id WHERE j.batch_id = $1`,
        [id],
      );
      expect(results.rows[0].n).toBe(ITEMS);
      await expect.poll(() => receiver.at('/batch').length, { timeout: 10_000 }).toBeGreaterThan(0);
      // Still one event once everything that could end the batch a second time is over: the batch
      // checks of the second worker's last handlers (it is idle: all its slots run probe jobs), a
      // sweep pass (from this API instance's sweeper: the repair pass that ends open batches, the
      // same code as the worker's), and the sending of every delivery. A lost status re-check would
      // store a second batch.completed and send it with another webhook-id.
      await waitForIdleWorker(api, WORKER_CONCURRENCY);
      await api.app.get(QueueSweeperService).sweepOnce();
      await waitForDeliveriesSettled(db, { userId: user.id });
      const events = await db.pool.query(
        `SELECT count(*)::int AS n FROM webhook_events WHERE type = 'batch.completed'`,
      );
      expect(events.rows[0].n).toBe(1);
      const ids = new Set(receiver.at('/batch').map((r) => r.headers['webhook-id']));
      expect(ids.size).toBe(1);
      expect(JSON.parse(receiver.at('/batch')[0].body).data.counts.completed).toBe(ITEMS);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });
});
