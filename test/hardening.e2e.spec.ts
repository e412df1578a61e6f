import { parse } from 'csv-parse/sync';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Queryable } from '../src/database/db.js';
import { ApiKeysRepository } from '../src/modules/auth/api-keys.repository.js';
import { AuthService } from '../src/modules/auth/auth.service.js';
import { UsersRepository } from '../src/modules/auth/users.repository.js';
import { UsersService } from '../src/modules/auth/users.service.js';
import { WebhooksRepository } from '../src/modules/webhooks/webhooks.repository.js';
import { INSERT_WEBHOOK, LOCK_WEBHOOK_OWNER } from '../src/modules/webhooks/webhooks.sql.js';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';
import type { TestDatabase } from './helpers/database.js';
import { freePort } from './helpers/ports.js';
import { waitFor } from './helpers/wait.js';

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: any;
  text: string;
}

/** Writes `request` to a new connection and reads the answer until the server closes it. */
function rawRequest(port: number, request: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer within 5 s')));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head, ...rest] = text.split('\r\n\r\n');
      const [statusLine, ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(
        lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      );
      const bodyText = rest.join('\r\n\r\n');
      let body: unknown;
      try {
        body = JSON.parse(bodyText);
      } catch {
        body = undefined;
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body, text: bodyText });
    });
    socket.write(request);
  });
}

function expectRawProblem(res: RawResponse, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toContain('application/problem+json');
  expect(res.body).toMatchObject({ status, code, type: expect.any(String), title: expect.any(String) });
  expect(res.headers['x-request-id']).toBeTruthy();
  expect(res.body.requestId).toBe(res.headers['x-request-id']);
  expect(res.headers['x-content-type-options']).toBe('nosniff');
  expect(res.headers['cache-control']).toBe('no-store');
}

const KEY_IN_URL = 'cvk_QueryStringKey0123456789abcdefghijklmnop';
const SECRET_IN_URL = 'whsec_QueryStringSecret0123456789abcdefgh';
const KEY_IN_BODY = 'cvk_PayloadKey0123456789abcdefghijklmnopqrs';
const SECRET_IN_BODY = 'whsec_PayloadSecret0123456789abcdefghijk';
// An ADMIN_API_KEY can be any long printable string: no pattern could recognise it.
const PLAIN_SECRET = 'operator-chosen-admin-key-without-any-prefix-42';

/** A transaction on the test's own connection, left open until `commit()`: a competitor in flight. */
async function openTransactionOn(db: TestDatabase): Promise<{ tx: Queryable; commit(): Promise<void> }> {
  const client = await db.pool.connect();
  await client.query('BEGIN');
  return {
    tx: { query: async (statement, params = []) => (await client.query(statement.text, [...params])).rows },
    async commit() {
      await client.query('COMMIT');
      client.release();
    },
  };
}

/** A promise and whether it has settled yet. */
function track<T>(promise: Promise<T>): { promise: Promise<T>; settled: boolean } {
  const tracked = { promise, settled: false };
  promise.then(
    () => (tracked.settled = true),
    () => (tracked.settled = true),
  );
  return tracked;
}

/** Statements of this database waiting for a lock. */
async function lockWaitersOn(db: TestDatabase): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
  );
  return rows[0].n;
}

describe('hardening', () => {
  let t: TestApp;
  let port: number;
  let alice: TestUser;
  const openTransaction = () => openTransactionOn(t.db);
  const lockWaiters = () => lockWaitersOn(t.db);

  beforeAll(async () => {
    t = await startTestApp({
      WEBHOOK_MAX_ENDPOINTS: '2',
      WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
      WEBHOOK_ALLOW_HTTP: 'true',
      BATCH_MAX_ITEMS_PRO: '1000',
    });
    port = await freePort();
    await t.app.listen(port, '127.0.0.1');
    alice = await createUser(t.db, { tier: 'pro' });
  });
  afterAll(async () => t.close());

  describe('logs (#9)', () => {
    it('never hold a query string value, nor the payload of a failing statement', async () => {
      // A statement that fails with the request's payload in PostgreSQL's DETAIL ("Failing row contains (…)").
      await t.db.pool.query(`ALTER TABLE jobs ADD CONSTRAINT hardening_refuse CHECK (metadata->>'refuse' IS NULL)`);
      try {
        const res = await t.request({
          method: 'POST',
          url: `/api/v1/jobs?api_key=${KEY_IN_URL}&token=${SECRET_IN_URL}&plain=${PLAIN_SECRET}`,
          key: alice.key,
          headers: { 'x-request-id': 'logs-500' },
          body: {
            type: 'echo',
            input: { text: KEY_IN_BODY },
            metadata: { refuse: 'yes', secret: SECRET_IN_BODY, admin: PLAIN_SECRET },
          },
        });
        expect(res.status).toBe(500);
        expect(res.text).not.toContain(KEY_IN_BODY);
      } finally {
        await t.db.pool.query('ALTER TABLE jobs DROP CONSTRAINT hardening_refuse');
      }
      const lines = t.logs.filter((l) => l.requestId === 'logs-500');
      // The failure is logged, with what it is, and the request line with the names of the query parameters.
      const failure = lines.find((l) => l.level === 'error');
      expect(failure).toMatchObject({ err: { code: '23514', detail: '[REDACTED]' } });
      const completed = lines.find((l) => l.msg === 'request completed');
      expect(completed?.url).toBe('/api/v1/jobs?api_key=[REDACTED]&token=[REDACTED]&plain=[REDACTED]');
      const all = JSON.stringify(t.logs);
      for (const secret of [KEY_IN_URL, SECRET_IN_URL, KEY_IN_BODY, SECRET_IN_BODY, PLAIN_SECRET]) {
        expect(all).not.toContain(secret);
      }
    });
  });

  describe('errors raised before Nest are problem+json with a request id (#10)', () => {
    it('a malformed percent-encoding in the path is 400 BAD_REQUEST', async () => {
      const res = await rawRequest(
        port,
        'GET /api/v1/jobs/%ED%A0%80 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
      );
      expectRawProblem(res, 400, 'BAD_REQUEST');
    });

    it('a path parameter over 100 characters is 414 URI_TOO_LONG', async () => {
      const res = await rawRequest(
        port,
        `GET /api/v1/jobs/${'a'.repeat(101)} HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: long-param\r\nConnection: close\r\n\r\n`,
      );
      expectRawProblem(res, 414, 'URI_TOO_LONG');
      expect(res.headers['x-request-id']).toBe('long-param');
    });

    it('headers over 16 KB are 431 HEADERS_TOO_LARGE', async () => {
      const res = await rawRequest(
        port,
        `GET /api/v1/health/live HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      );
      expectRawProblem(res, 431, 'HEADERS_TOO_LARGE');
    });

    it('an Expect other than 100-continue is 417 EXPECTATION_FAILED, and 100-continue still works', async () => {
      const res = await rawRequest(
        port,
        'GET /api/v1/health/live HTTP/1.1\r\nHost: localhost\r\nExpect: bogus\r\nX-Request-Id: expect-1\r\n\r\n',
      );
      expectRawProblem(res, 417, 'EXPECTATION_FAILED');
      expect(res.headers['x-request-id']).toBe('expect-1');
      const ok = await rawRequest(
        port,
        'GET /api/v1/health/live HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
      );
      expect(ok.text).toContain('200 OK');
    });

    it('a request reaching an instance that is closing is 503 problem+json, not the framework’s plain JSON', async () => {
      // What main.ts sets before app.close(); Fastify's and Nest's own 503s (return503OnClosing)
      // answered plain JSON without a request id.
      t.lifecycle.closing = true;
      try {
        const res = await rawRequest(
          port,
          'GET /api/v1/health/live HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: closing-1\r\n\r\n',
        );
        expectRawProblem(res, 503, 'SERVICE_UNAVAILABLE');
        expect(res.headers['x-request-id']).toBe('closing-1');
        expect(res.headers['retry-after']).toBe('1');
      } finally {
        t.lifecycle.closing = false;
      }
    });
  });

  describe('client aborts (#11)', () => {
    /** Sends the head and part of a body, waits, then drops the connection. */
    async function abortUpload(requestId: string, path: string, contentType: string, part: string): Promise<void> {
      const socket = net.connect(port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${alice.key}\r\n` +
          `Content-Type: ${contentType}\r\nContent-Length: 1000000\r\nX-Request-Id: ${requestId}\r\n\r\n${part}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      socket.destroy();
    }

    it('an upload the client cuts short is logged as info, never as an error', async () => {
      const line = JSON.stringify({ type: 'echo', input: { text: 'x'.repeat(100) } });
      await abortUpload('abort-ndjson', '/api/v1/batches', 'application/x-ndjson', `${line}\n`.repeat(20));
      await abortUpload('abort-json', '/api/v1/jobs', 'application/json', '{"type":"echo","input":{"text":"');
      const ids = ['abort-ndjson', 'abort-json'];
      await waitFor('the aborted uploads to be handled', () =>
        ids.every((id) =>
          t.logs.some((l) => l.requestId === id && (l.level === 'error' || /client closed/.test(String(l.msg)))),
        ),
      );
      const errors = t.logs.filter(
        (l) => ids.includes(String(l.requestId)) && ['error', 'fatal'].includes(String(l.level)),
      );
      expect(errors).toEqual([]);
    });
  });

  describe('CSV results and security headers (#13)', () => {
    it('CSV cells that a spreadsheet would run as a formula are prefixed with a quote', async () => {
      const customIds = ['=HYPERLINK("http://evil.example","x")', '+1+1', '-2+3', '@SUM(A1)', '\tTAB', '\rCR', 'plain'];
      const created = await t.request({
        method: 'POST',
        url: '/api/v1/batches',
        key: alice.key,
        body: { items: customIds.map((customId) => ({ customId, type: 'echo', input: { text: '=1+1' } })) },
      });
      expect(created.status).toBe(201);
      const csv = await t.request({
        method: 'GET',
        url: `/api/v1/batches/${created.body.id}/results?format=csv`,
        key: alice.key,
      });
      expect(csv.status).toBe(200);
      const records = parse(csv.text, { columns: true }) as Array<Record<string, string>>;
      expect(records.map((r) => r.customId)).toEqual([
        `'=HYPERLINK("http://evil.example","x")`,
        "'+1+1",
        "'-2+3",
        "'@SUM(A1)",
        "'\tTAB",
        "'\rCR",
        'plain',
      ]);
    });

    it('every response says nosniff and no-referrer; API responses are no-store with a CSP that loads nothing', async () => {
      const responses = [
        await t.request({ method: 'GET', url: '/api/v1/me', key: alice.key }),
        await t.request({ method: 'GET', url: '/api/v1/me' }), // 401 problem
        await t.request({ method: 'GET', url: '/nothing-here' }), // 404 problem outside the prefix
      ];
      expect(responses.map((r) => r.status)).toEqual([200, 401, 404]);
      for (const res of responses) {
        expect(res.headers['x-content-type-options']).toBe('nosniff');
        expect(res.headers['referrer-policy']).toBe('no-referrer');
        expect(res.headers['cache-control']).toBe('no-store');
        expect(String(res.headers['content-security-policy'])).toMatch(/default-src 'none'/);
      }
    });

    it('/docs has a CSP that Swagger UI runs under: its scripts are files, never inline', async () => {
      const page = await t.request({ method: 'GET', url: '/docs' });
      expect(page.status).toBe(200);
      const csp = String(page.headers['content-security-policy']);
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toMatch(/unsafe-eval|script-src[^;]*unsafe-inline/);
      expect(page.headers['x-content-type-options']).toBe('nosniff');
      const scripts = [...page.text.matchAll(/<script([^>]*)>/g)].map((m) => m[1]);
      expect(scripts.length).toBeGreaterThan(0);
      for (const attributes of scripts) expect(attributes).toMatch(/src=/);
      for (const src of [...page.text.matchAll(/<script src=["']?([^"' >]+)/g)].map((m) => m[1])) {
        const asset = await t.request({ method: 'GET', url: new URL(src, 'http://localhost/docs').pathname });
        expect(asset.status, src).toBe(200);
        expect(asset.headers['content-security-policy']).toBe(page.headers['content-security-policy']);
      }
    });

    it('a user has at most WEBHOOK_MAX_ENDPOINTS webhook endpoints, even when creating them at once', async () => {
      const bob = await createUser(t.db);
      const create = () =>
        t.request({
          method: 'POST',
          url: '/api/v1/webhooks',
          key: bob.key,
          body: { url: 'http://127.0.0.1:9/hook', events: ['job.completed'] },
        });
      expect((await create()).status).toBe(201);
      expect((await create()).status).toBe(201);
      const refused = await create();
      expect(refused.status).toBe(409);
      expect(refused.body).toMatchObject({ code: 'CONFLICT' });
      expect(refused.body.detail).toContain('2 webhook endpoints');
      const count = await t.db.pool.query('SELECT count(*)::int AS n FROM webhooks WHERE user_id = $1', [bob.id]);
      expect(count.rows[0].n).toBe(2);
      // A deleted endpoint frees its place.
      const list = await t.request({ method: 'GET', url: '/api/v1/webhooks', key: bob.key });
      const removed = await t.request({
        method: 'DELETE',
        url: `/api/v1/webhooks/${list.body.data[0].id}`,
        key: bob.key,
      });
      expect(removed.status).toBe(204);
      expect((await create()).status).toBe(201);

      // Another creation in flight (its row not committed yet, the owner's lock held, as the
      // repository does it): the next must wait for it and count its row, not slip past the cap.
      const carol = await createUser(t.db);
      const open = await openTransaction();
      await open.tx.query(LOCK_WEBHOOK_OWNER, [carol.id]);
      await open.tx.query(INSERT_WEBHOOK, [carol.id, 'http://127.0.0.1:9/a', ['job.completed'], null, 'x', 1]);
      const racing = track(t.app.get(WebhooksRepository).insert(carol.id, 'http://127.0.0.1:9/b', ['*'], null, 'x', 1));
      await waitFor(
        'the second creation to wait for the lock (or, unguarded, to finish)',
        async () => racing.settled || (await lockWaiters()) > 0,
      );
      await open.commit();
      expect(await racing.promise).toBeUndefined();
      const carols = await t.db.pool.query('SELECT count(*)::int AS n FROM webhooks WHERE user_id = $1', [carol.id]);
      expect(carols.rows[0].n).toBe(1);
    });
  });
});

describe('the last admin (#12)', () => {
  let t: TestApp;
  const openTransaction = () => openTransactionOn(t.db);
  const lockWaiters = () => lockWaitersOn(t.db);

  // Each test needs a database where it alone decides who is an admin.
  beforeEach(async () => {
    t = await startTestApp();
  });
  afterEach(async () => t.close());

  const role = async (id: string): Promise<string> =>
    (await t.db.pool.query<{ role: string }>('SELECT role FROM users WHERE id = $1', [id])).rows[0].role;

  it('cannot be demoted, nor lose their last active key, until another admin has a key', async () => {
    const admin = await createUser(t.db, { role: 'admin' });
    const demote = await t.request({
      method: 'PATCH',
      url: `/api/v1/admin/users/${admin.id}`,
      key: admin.key,
      body: { role: 'user' },
    });
    expect(demote.status).toBe(409);
    expect(demote.body).toMatchObject({ code: 'CONFLICT' });
    expect(demote.body.detail).toMatch(/last admin/);
    expect(await role(admin.id)).toBe('admin');
    // Other changes to the last admin are fine.
    const tier = await t.request({
      method: 'PATCH',
      url: `/api/v1/admin/users/${admin.id}`,
      key: admin.key,
      body: { tier: 'pro' },
    });
    expect(tier.status).toBe(200);

    for (const url of [`/api/v1/admin/api-keys/${admin.keyId}`, `/api/v1/me/api-keys/${admin.keyId}`]) {
      const revoke = await t.request({ method: 'DELETE', url, key: admin.key });
      expect(revoke.status, url).toBe(409);
      expect(revoke.body.detail).toMatch(/last active key of the last admin/);
    }
    expect((await t.request({ method: 'GET', url: '/api/v1/admin/users', key: admin.key })).status).toBe(200);

    // With a second key of its own, the admin may revoke the first.
    const second = await t.request({ method: 'POST', url: '/api/v1/me/api-keys', key: admin.key, body: {} });
    const revokeFirst = await t.request({
      method: 'DELETE',
      url: `/api/v1/me/api-keys/${admin.keyId}`,
      key: second.body.key,
    });
    expect(revokeFirst.status).toBe(204);

    // A user that is not an admin may revoke their last key.
    const user = await createUser(t.db);
    expect(
      (await t.request({ method: 'DELETE', url: `/api/v1/me/api-keys/${user.keyId}`, key: user.key })).status,
    ).toBe(204);

    // Once another admin holds a key, the first may step down.
    const other = await createUser(t.db, { role: 'admin' });
    const stepDown = await t.request({
      method: 'PATCH',
      url: `/api/v1/admin/users/${admin.id}`,
      key: other.key,
      body: { role: 'user' },
    });
    expect(stepDown.status).toBe(200);
    expect(await role(admin.id)).toBe('user');
  });

  it('a demotion or a revocation racing another waits for it, and leaves one admin with a key', async () => {
    const users = t.app.get(UsersService);
    const auth = t.app.get(AuthService);
    const repo = t.app.get(UsersRepository);
    const keys = t.app.get(ApiKeysRepository);
    const a = await createUser(t.db, { role: 'admin' });
    const b = await createUser(t.db, { role: 'admin' });

    // a's demotion is in flight (not committed) when b's starts: b's must wait, then refuse.
    const first = await openTransaction();
    await repo.lockAdmins(first.tx);
    expect(await repo.update(a.id, { role: 'user' }, first.tx)).toBeDefined();
    const demotion = track(users.update(b.id, { role: 'user' }));
    await waitFor(
      'the second demotion to wait for the lock (or, unguarded, to finish)',
      async () => demotion.settled || (await lockWaiters()) > 0,
    );
    await first.commit();
    await expect(demotion.promise).rejects.toMatchObject({ code: 'CONFLICT' });
    expect([await role(a.id), await role(b.id)]).toEqual(['user', 'admin']);

    // The same for two revocations: b's key goes first, c's must then stay.
    const c = await createUser(t.db, { role: 'admin' });
    const second = await openTransaction();
    await repo.lockAdmins(second.tx);
    expect(await keys.revokeAny(b.keyId, second.tx)).toBe(true);
    const revocation = track(auth.revokeAnyKey(c.keyId));
    await waitFor(
      'the second revocation to wait for the lock (or, unguarded, to finish)',
      async () => revocation.settled || (await lockWaiters()) > 0,
    );
    await second.commit();
    await expect(revocation.promise).rejects.toMatchObject({ code: 'CONFLICT' });
    const live = await t.db.pool.query(
      `SELECT count(*)::int AS n FROM api_keys k JOIN users u ON u.id = k.user_id WHERE u.role = 'admin' AND k.revoked_at IS NULL`,
    );
    expect(live.rows[0].n).toBe(1);
  });
});
