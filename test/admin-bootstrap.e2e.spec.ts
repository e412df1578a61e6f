import { afterEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';

describe('admin bootstrap', () => {
  const apps: TestApp[] = [];
  const databases: TestDatabase[] = [];

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await Promise.all(databases.splice(0).map((db) => db.drop()));
  });

  async function emptyDatabase(): Promise<TestDatabase> {
    const db = await createTestDatabase();
    databases.push(db);
    return db;
  }

  async function start(db: TestDatabase, env: Record<string, string> = {}): Promise<TestApp> {
    const app = await startTestApp(env, db);
    apps.push(app);
    return app;
  }

  it('instances starting together on an empty database create one admin with one key', async () => {
    const db = await emptyDatabase();
    await Promise.all([start(db), start(db), start(db)]);
    const users = await db.pool.query('SELECT email, role, tier FROM users');
    expect(users.rows).toEqual([{ email: 'admin@conveyor.local', role: 'admin', tier: 'enterprise' }]);
    const keys = await db.pool.query('SELECT name FROM api_keys');
    expect(keys.rows).toEqual([{ name: 'bootstrap' }]);
  });

  it('ADMIN_API_KEY is registered once, for the existing admin@conveyor.local, which becomes an admin', async () => {
    const db = await emptyDatabase();
    const existing = await db.pool.query<{ id: string }>(
      `INSERT INTO users (name, email, role) VALUES ('Ops', 'Admin@Conveyor.local', 'user') RETURNING id`,
    );
    const adminKey = 'bootstrap-test-admin-key-0123456789abcdefghij';

    const first = await start(db, { ADMIN_API_KEY: adminKey });
    const me = await first.request({ method: 'GET', url: '/api/v1/me', key: adminKey });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id: existing.rows[0].id, role: 'admin' });

    await start(db, { ADMIN_API_KEY: adminKey });
    const keys = await db.pool.query('SELECT user_id, name FROM api_keys');
    expect(keys.rows).toEqual([{ user_id: existing.rows[0].id, name: 'ADMIN_API_KEY' }]);
    expect((await db.pool.query('SELECT count(*)::int AS n FROM users')).rows[0].n).toBe(1);
  });

  it('a restart with ADMIN_API_KEY ends a lock-out: the key works again and its user is an admin again', async () => {
    const db = await emptyDatabase();
    const adminKey = 'bootstrap-lockout-admin-key-0123456789abcdefghij';
    const first = await startTestApp({ ADMIN_API_KEY: adminKey }, db);
    const me = await first.request({ method: 'GET', url: '/api/v1/me', key: adminKey });
    expect(me.body).toMatchObject({ role: 'admin' });
    await first.close();
    // The API refuses to lock the last admin out; this is how it looked before it did (or after a
    // hand-made change): the admin demoted and the key revoked.
    await db.pool.query(`UPDATE users SET role = 'user' WHERE id = $1`, [me.body.id]);
    await db.pool.query('UPDATE api_keys SET revoked_at = now()');

    const restarted = await start(db, { ADMIN_API_KEY: adminKey });
    const again = await restarted.request({ method: 'GET', url: '/api/v1/me', key: adminKey });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: me.body.id, role: 'admin' });
    expect((await restarted.request({ method: 'GET', url: '/api/v1/admin/users', key: adminKey })).status).toBe(200);
    const keys = await db.pool.query('SELECT name, revoked_at FROM api_keys');
    expect(keys.rows).toEqual([{ name: 'ADMIN_API_KEY', revoked_at: null }]);
  });
});
