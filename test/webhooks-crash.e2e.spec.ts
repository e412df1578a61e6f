import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { startWorkerProcess, type ServiceProcess } from './helpers/process.js';
import { Receiver } from './helpers/receiver.js';

const EVENTS = 2000;

/**
 * Crash safety of delivery: a dispatcher process killed with SIGKILL while it delivers 2,000
 * events loses none of them — another process delivers the rest once their locks lapse.
 */
describe('webhook dispatcher killed mid-delivery', () => {
  let db: TestDatabase;
  let receiver: Receiver;
  let user: TestUser;
  let webhookId: string;
  /** The pid the receiver kills. */
  let victim: number | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    user = await createUser(db);
    receiver = await Receiver.start();
    // The receiver itself pulls the trigger on the 300th request, so the kill lands mid-run, with
    // requests in flight, however fast or loaded the machine is. A little latency keeps many in flight.
    receiver.on('/crash', (n) => {
      if (n === 300 && victim !== undefined) process.kill(victim, 'SIGKILL');
      return { status: 200, delayMs: 5 };
    });
    const api: TestApp = await startTestApp(
      { ROLE: 'api', WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32' },
      db,
    );
    const created = await api.request({
      method: 'POST',
      url: '/api/v1/webhooks',
      key: user.key,
      body: { url: `${receiver.url}/crash`, events: ['*'] },
    });
    webhookId = created.body.id;
    await api.app.close();
  });
  afterAll(async () => {
    await receiver.close();
    await db.drop();
  });

  const dispatcher = (): Promise<ServiceProcess> =>
    startWorkerProcess(db.url, { WEBHOOK_TIMEOUT_MS: '1000', WEBHOOK_CONCURRENCY: '20' });

  const receivedIds = (): Set<string> => new Set(receiver.requests.map((r) => r.headers['webhook-id']));

  it('every event id reaches the receiver at least once, and every delivery ends succeeded', async () => {
    const first = await dispatcher();
    victim = first.pid;
    // 2,000 events arrive while it runs, as the outbox writes them: events and deliveries in one statement.
    await db.pool.query(
      `WITH events AS (
         INSERT INTO webhook_events (user_id, type, data)
         SELECT $1, 'webhook.test', jsonb_build_object('webhookId', $2::text, 'message', 'event ' || n)
           FROM generate_series(1, $3) n
         RETURNING id)
       INSERT INTO webhook_deliveries (webhook_id, event_id, user_id, event_type)
       SELECT $2::uuid, id, $1, 'webhook.test' FROM events`,
      [user.id, webhookId, EVENTS],
    );
    await first.exited;
    victim = undefined;
    const atKill = receivedIds().size;
    expect(atKill).toBeLessThan(EVENTS); // it really died mid-way

    const second = await dispatcher();
    try {
      await expect.poll(() => receivedIds().size, { timeout: 60_000, interval: 100 }).toBe(EVENTS);
      const { rows } = await db.pool.query(
        `SELECT status, count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = $1 GROUP BY status`,
        [webhookId],
      );
      await expect
        .poll(
          async () => {
            const res = await db.pool.query(
              `SELECT count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = $1 AND status = 'succeeded'`,
              [webhookId],
            );
            return res.rows[0].n;
          },
          { timeout: 30_000, interval: 100 },
        ) // deliveries the killed process sent but never recorded wait for their lock to lapse
        .toBe(EVENTS);
      expect(rows.every((r) => r.status !== 'failed')).toBe(true);
      // Every id the receiver saw is one of ours, signed: nothing invented, nothing lost.
      const { rows: ids } = await db.pool.query(
        `SELECT 'evt_' || replace(id::text, '-', '') AS id FROM webhook_events`,
      );
      expect(new Set(ids.map((r) => r.id))).toEqual(receivedIds());
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });
});
