import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forbiddenReason } from '../src/common/net/ip-policy.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';
import { Receiver } from './helpers/receiver.js';

/**
 * SSRF: webhook URLs that reach loopback, private, link-local, CGNAT, unique-local or mapped
 * addresses are refused at registration and again at every delivery, unless WEBHOOK_ALLOWED_CIDRS
 * allows them; redirects are never followed.
 */
describe('webhook SSRF protection', () => {
  let db: TestDatabase;
  let user: TestUser;

  beforeAll(async () => {
    db = await createTestDatabase();
    user = await createUser(db);
  });
  afterAll(async () => db.drop());

  async function register(t: TestApp, url: string): Promise<{ status: number; body: any }> {
    return t.request({ method: 'POST', url: '/api/v1/webhooks', key: user.key, body: { url, events: ['*'] } });
  }

  it('refuses every forbidden target at registration when nothing is allowed', async () => {
    const t = await startTestApp({ ROLE: 'api', WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOWED_CIDRS: '' }, db);
    try {
      const targets = [
        'http://127.0.0.1/hook',
        'http://localhost/hook',
        'http://[::1]/hook',
        'http://[::ffff:127.0.0.1]/hook',
        'http://0x7f000001/hook',
        'http://2130706433/hook',
        'http://169.254.169.254/latest/meta-data/',
        'http://10.0.0.1/hook',
        'http://172.16.0.1/hook',
        'http://192.168.1.1/hook',
        'http://100.64.0.1/hook',
        'http://[fc00::1]/hook',
        'http://[fe80::1]/hook',
        'http://0.0.0.0/hook',
        'http://224.0.0.1/hook',
        'http://user:pass@example.com/hook',
      ];
      // This machine's own name resolves to a private address too (127.0.0.1 here, via /etc/hosts).
      const own = await lookup(hostname()).catch(() => undefined);
      if (own && forbiddenReason(own.address, [])) targets.push(`http://${hostname()}/hook`);
      for (const url of targets) {
        const res = await register(t, url);
        expect(res.status, url).toBe(422);
        expect(res.body.code).toBe('VALIDATION_FAILED');
        expect(res.body.errors[0], url).toMatchObject({ field: 'url', message: expect.stringContaining('Refused') });
      }
      const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM webhooks`);
      expect(rows[0].n).toBe(0);
    } finally {
      await t.app.close();
    }
  });

  it('requires https unless WEBHOOK_ALLOW_HTTP', async () => {
    const t = await startTestApp({ ROLE: 'api', WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8' }, db);
    try {
      const res = await register(t, 'http://127.0.0.1:9/hook');
      expect(res.status).toBe(422);
      expect(res.body.errors[0].message).toContain('scheme http: is not allowed');
    } finally {
      await t.app.close();
    }
  });

  describe('at delivery time', () => {
    let receiver: Receiver;
    let internal: Receiver;

    beforeAll(async () => {
      receiver = await Receiver.start('127.0.0.1');
      internal = await Receiver.start('127.0.0.2'); // stands for a private service behind the firewall
    });
    afterAll(async () => {
      await receiver.close();
      await internal.close();
    });

    /** Registers an endpoint with an API-only instance that allows 127.0.0.1, and queues a test event. */
    async function queuedTest(path: string): Promise<{ webhookId: string; deliveryId: string }> {
      const api = await startTestApp(
        { ROLE: 'api', WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32' },
        db,
      );
      try {
        const created = await register(api, `${receiver.url}${path}`);
        expect(created.status).toBe(201);
        const test = await api.request({
          method: 'POST',
          url: `/api/v1/webhooks/${created.body.id}/test`,
          key: user.key,
        });
        return { webhookId: created.body.id, deliveryId: test.body.deliveryId };
      } finally {
        await api.app.close();
      }
    }

    async function attemptsOf(deliveryId: string): Promise<Array<{ status_code: number | null; error: string }>> {
      const { rows } = await db.pool.query(
        `SELECT status_code, error FROM webhook_delivery_attempts WHERE delivery_id = $1 ORDER BY attempted_at`,
        [deliveryId],
      );
      return rows;
    }

    it('a dispatcher whose policy forbids the address refuses to connect, whatever registration said', async () => {
      const { deliveryId } = await queuedTest('/was-allowed');
      const strict = await startTestApp(
        { ROLE: 'worker', WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOWED_CIDRS: '', WEBHOOK_POLL_INTERVAL_MS: '50' },
        db,
      );
      try {
        await expect.poll(async () => (await attemptsOf(deliveryId)).length, { timeout: 10_000 }).toBeGreaterThan(0);
        const [first] = await attemptsOf(deliveryId);
        expect(first.status_code).toBeNull();
        expect(first.error).toMatch(/Refused to request .*127\.0\.0\.1.* loopback/);
        expect(receiver.at('/was-allowed')).toHaveLength(0);
      } finally {
        await strict.app.close();
      }
    });

    it('a redirect to a private address is not followed', async () => {
      receiver.on('/redirects', () => ({ status: 302, headers: { location: `${internal.url}/admin` } }));
      const { deliveryId } = await queuedTest('/redirects');
      const dispatcher = await startTestApp(
        {
          ROLE: 'worker',
          WEBHOOK_ALLOW_HTTP: 'true',
          WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32',
          WEBHOOK_POLL_INTERVAL_MS: '50',
        },
        db,
      );
      try {
        await expect.poll(async () => (await attemptsOf(deliveryId)).length, { timeout: 10_000 }).toBeGreaterThan(0);
        const [first] = await attemptsOf(deliveryId);
        expect(first).toMatchObject({ status_code: 302, error: 'Redirect (302) not followed' });
        expect(receiver.at('/redirects').length).toBeGreaterThan(0);
        expect(internal.requests).toHaveLength(0);
      } finally {
        await dispatcher.app.close();
      }
    });
  });
});
