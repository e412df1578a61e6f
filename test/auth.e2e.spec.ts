import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';

describe('authentication and authorisation', () => {
  let t: TestApp;
  let admin: TestUser;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await createUser(t.db, { role: 'admin' });
    alice = await createUser(t.db);
    bob = await createUser(t.db);
  });
  afterAll(async () => t.close());

  it('401 without a key, with a malformed header, and with an unknown key', async () => {
    const variants: Array<Record<string, string>> = [{}, { authorization: 'Basic abc' }, { authorization: 'Bearer' }];
    for (const headers of variants) {
      const res = await t.request({ method: 'GET', url: '/api/v1/me', headers });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('UNAUTHORIZED');
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
    const unknown = await t.request({
      method: 'GET',
      url: '/api/v1/me',
      key: 'cvk_notarealkeynotarealkeynotarealkey123456',
    });
    expect(unknown.status).toBe(401);
  });

  it('a valid key authenticates and records its last use', async () => {
    const res = await t.request({ method: 'GET', url: '/api/v1/me', key: alice.key });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: alice.id, role: 'user', tier: 'free' });
    // last_used_at is written after the response, off the request path.
    await expect
      .poll(
        async () =>
          (await t.db.pool.query('SELECT last_used_at FROM api_keys WHERE id = $1', [alice.keyId])).rows[0]
            .last_used_at,
      )
      .not.toBeNull();
  });

  it('403 for a user on an admin route; 200 for an admin', async () => {
    const asUser = await t.request({ method: 'GET', url: '/api/v1/admin/users', key: alice.key });
    expect(asUser.status).toBe(403);
    expect(asUser.body.code).toBe('FORBIDDEN');
    const asAdmin = await t.request({ method: 'GET', url: '/api/v1/admin/users', key: admin.key });
    expect(asAdmin.status).toBe(200);
  });

  it('a new key is shown once and stored only as its SHA-256', async () => {
    const created = await t.request({
      method: 'POST',
      url: '/api/v1/me/api-keys',
      key: alice.key,
      body: { name: 'laptop' },
    });
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(/^cvk_[A-Za-z0-9_-]{43}$/);
    const { rows } = await t.db.pool.query('SELECT * FROM api_keys WHERE id = $1', [created.body.id]);
    expect(rows[0].key_hash).toEqual(createHash('sha256').update(created.body.key).digest());
    expect(JSON.stringify(rows[0])).not.toContain(created.body.key.slice(4));

    const listed = await t.request({ method: 'GET', url: '/api/v1/me/api-keys', key: alice.key });
    expect(listed.status).toBe(200);
    expect(listed.text).not.toContain(created.body.key);
    expect(listed.body.nextCursor).toBeNull();
    expect(listed.body.data.map((k: { id: string }) => k.id)).toContain(created.body.id);
    expect(listed.body.data.every((k: object) => !('key' in k) && !('keyHash' in k))).toBe(true);

    expect((await t.request({ method: 'GET', url: '/api/v1/me', key: created.body.key })).status).toBe(200);
  });

  it('a revoked key stops working at once', async () => {
    const created = await t.request({ method: 'POST', url: '/api/v1/me/api-keys', key: alice.key, body: {} });
    expect((await t.request({ method: 'GET', url: '/api/v1/me', key: created.body.key })).status).toBe(200);
    const revoked = await t.request({
      method: 'DELETE',
      url: `/api/v1/me/api-keys/${created.body.id}`,
      key: alice.key,
    });
    expect(revoked.status).toBe(204);
    const after = await t.request({ method: 'GET', url: '/api/v1/me', key: created.body.key });
    expect(after.status).toBe(401);
  });

  it('admins revoke any key; the key stops working at once', async () => {
    const created = await t.request({
      method: 'POST',
      url: `/api/v1/admin/users/${bob.id}/api-keys`,
      key: admin.key,
      body: {},
    });
    expect(created.status).toBe(201);
    const listed = await t.request({ method: 'GET', url: `/api/v1/admin/users/${bob.id}/api-keys`, key: admin.key });
    expect(listed.body).toMatchObject({ nextCursor: null });
    expect(listed.body.data.map((k: { id: string }) => k.id)).toEqual(
      expect.arrayContaining([bob.keyId, created.body.id]),
    );
    expect(listed.text).not.toContain(created.body.key);
    expect(
      (await t.request({ method: 'DELETE', url: `/api/v1/admin/api-keys/${created.body.id}`, key: admin.key })).status,
    ).toBe(204);
    expect((await t.request({ method: 'GET', url: '/api/v1/me', key: created.body.key })).status).toBe(401);
  });

  it('another user’s key is a 404, and is left untouched', async () => {
    const res = await t.request({ method: 'DELETE', url: `/api/v1/me/api-keys/${bob.keyId}`, key: alice.key });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('NOT_FOUND');
    expect((await t.request({ method: 'GET', url: '/api/v1/me', key: bob.key })).status).toBe(200);
  });

  it('a non-existent id is the same 404 as another user’s', async () => {
    const res = await t.request({
      method: 'DELETE',
      url: '/api/v1/me/api-keys/00000000-0000-4000-8000-000000000000',
      key: alice.key,
    });
    expect(res.status).toBe(404);
  });
});

describe('admin users', () => {
  let t: TestApp;
  let admin: TestUser;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await createUser(t.db, { role: 'admin' });
  });
  afterAll(async () => t.close());

  it('creates a user, rejects a duplicate email (any case) with 409 CONFLICT', async () => {
    const created = await t.request({
      method: 'POST',
      url: '/api/v1/admin/users',
      key: admin.key,
      body: { name: 'Ada', email: 'ada@example.com', tier: 'pro' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'Ada', email: 'ada@example.com', tier: 'pro', role: 'user' });
    const dup = await t.request({
      method: 'POST',
      url: '/api/v1/admin/users',
      key: admin.key,
      body: { name: 'Ada 2', email: 'ADA@example.com' },
    });
    expect(dup.status).toBe(409);
    expect(dup.body.code).toBe('CONFLICT');
  });

  it('changes tier and role, and lists users with keyset pagination', async () => {
    const created = await t.request({
      method: 'POST',
      url: '/api/v1/admin/users',
      key: admin.key,
      body: { name: 'Grace', email: 'grace@example.com' },
    });
    const patched = await t.request({
      method: 'PATCH',
      url: `/api/v1/admin/users/${created.body.id}`,
      key: admin.key,
      body: { tier: 'enterprise', role: 'admin' },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ tier: 'enterprise', role: 'admin' });

    for (let i = 0; i < 5; i++) {
      await t.request({
        method: 'POST',
        url: '/api/v1/admin/users',
        key: admin.key,
        body: { name: `u${i}`, email: `u${i}@example.com` },
      });
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { data: Array<{ id: string }>; nextCursor: string | null } } =
        await t.request({
          method: 'GET',
          url: `/api/v1/admin/users?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
          key: admin.key,
        });
      expect(page.status).toBe(200);
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.data.map((u) => u.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    const { rows } = await t.db.pool.query('SELECT id FROM users ORDER BY created_at DESC, id DESC');
    expect(seen).toEqual(rows.map((r: { id: string }) => r.id));
  });

  it('keys of a user that does not exist: 404', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/api/v1/admin/users/00000000-0000-4000-8000-000000000000/api-keys',
      key: admin.key,
      body: {},
    });
    expect(res.status).toBe(404);
  });
});
