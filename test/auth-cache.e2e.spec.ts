import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';

/**
 * Two instances of the same deployment. Each caches API key → principal; changes must reach
 * the other instance's cache through NOTIFY, and a lost LISTEN connection must disable the cache.
 */
describe('principal cache across instances', () => {
  let a: TestApp;
  let b: TestApp;
  let admin: TestUser;

  beforeAll(async () => {
    a = await startTestApp();
    b = await startTestApp({}, a.db);
    admin = await createUser(a.db, { role: 'admin' });
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });

  async function status(app: TestApp, key: string, url = '/api/v1/me'): Promise<number> {
    return (await app.request({ method: 'GET', url, key })).status;
  }

  it('a key revoked on one instance stops working on the other', async () => {
    const user = await createUser(a.db);
    expect(await status(b, user.key)).toBe(200); // now cached on b
    expect(
      (await a.request({ method: 'DELETE', url: `/api/v1/admin/api-keys/${user.keyId}`, key: admin.key })).status,
    ).toBe(204);
    await expect.poll(() => status(b, user.key), { timeout: 2000, interval: 20 }).toBe(401);
  });

  it('a role change on one instance applies on the other', async () => {
    const user = await createUser(a.db);
    expect(await status(b, user.key, '/api/v1/admin/users')).toBe(403);
    const patched = await a.request({
      method: 'PATCH',
      url: `/api/v1/admin/users/${user.id}`,
      key: admin.key,
      body: { role: 'admin' },
    });
    expect(patched.status).toBe(200);
    await expect.poll(() => status(b, user.key, '/api/v1/admin/users'), { timeout: 2000, interval: 20 }).toBe(200);
  });

  it('with its LISTEN connection killed, an instance stops trusting its cache', async () => {
    const user = await createUser(a.db);
    expect(await status(b, user.key)).toBe(200);
    // Kill every listener; then revoke behind the app's back, so no notification is ever sent.
    await a.db.pool.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE application_name = 'conveyor-listen' AND datname = current_database()`,
    );
    await a.db.pool.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [user.keyId]);
    await expect.poll(() => status(b, user.key), { timeout: 2000, interval: 20 }).toBe(401);
    // The listener comes back by itself and the cache is used again.
    await expect
      .poll(
        async () =>
          (
            await a.db.pool.query(
              `SELECT count(*)::int AS n FROM pg_stat_activity
                WHERE application_name = 'conveyor-listen' AND datname = current_database()`,
            )
          ).rows[0].n,
        { timeout: 5000 },
      )
      .toBe(2);
  });
});
