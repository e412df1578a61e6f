import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';

const PROBLEM_KEYS = ['type', 'title', 'status', 'detail', 'code', 'requestId'];

describe('errors and validation', () => {
  let t: TestApp;
  let admin: TestUser;

  beforeAll(async () => {
    t = await startTestApp({ BODY_LIMIT_BYTES: '2048' });
    admin = await createUser(t.db, { role: 'admin' });
  });
  afterAll(async () => t.close());

  async function userCount(): Promise<number> {
    return Number((await t.db.pool.query('SELECT count(*) FROM users')).rows[0].count);
  }

  function expectProblem(
    res: { status: number; body: any; headers: Record<string, unknown> },
    status: number,
    code: string,
  ) {
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toContain('application/problem+json');
    for (const key of PROBLEM_KEYS) expect(res.body).toHaveProperty(key);
    expect(res.body.code).toBe(code);
    expect(res.body.status).toBe(status);
    expect(res.body.requestId).toBe(res.headers['x-request-id']);
  }

  it('malformed JSON is 400 BAD_REQUEST and writes nothing', async () => {
    const before = await userCount();
    const res = await t.request({
      method: 'POST',
      url: '/api/v1/admin/users',
      key: admin.key,
      payload: '{"name": "x", "email": ',
      headers: { 'content-type': 'application/json' },
    });
    expectProblem(res, 400, 'BAD_REQUEST');
    expect(await userCount()).toBe(before);
  });

  it('a wrong content type is 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/api/v1/admin/users',
      key: admin.key,
      payload: 'name=x&email=y',
      headers: { 'content-type': 'text/csv' },
    });
    expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    // text/plain too: Fastify would parse it by default and the body would only fail validation.
    const plain = await t.request({
      method: 'POST',
      url: '/api/v1/admin/users',
      key: admin.key,
      payload: '{"name":"x","email":"plain@example.com"}',
      headers: { 'content-type': 'text/plain' },
    });
    expectProblem(plain, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('a NUL character in the body or the query is 400 naming the field, not a database error', async () => {
    const body = await t.request({
      method: 'POST',
      url: '/api/v1/admin/users',
      key: admin.key,
      payload: '{"name":"x\\u0000y","email":"nul@example.com"}',
      headers: { 'content-type': 'application/json' },
    });
    expectProblem(body, 400, 'BAD_REQUEST');
    expect(body.body.errors).toEqual([{ field: 'name', message: 'must not contain the NUL character' }]);
    const query = await t.request({ method: 'GET', url: '/api/v1/jobs?type=%00', key: admin.key });
    expectProblem(query, 400, 'BAD_REQUEST');
    expect(query.body.errors[0].field).toBe('query.type');
  });

  it('a body over the configured limit is 413 PAYLOAD_TOO_LARGE', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/api/v1/admin/users',
      key: admin.key,
      body: { name: 'x'.repeat(5000), email: 'big@example.com' },
    });
    expectProblem(res, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('invalid fields are 422 VALIDATION_FAILED with one entry per field, and write nothing', async () => {
    const before = await userCount();
    const res = await t.request({
      method: 'POST',
      url: '/api/v1/admin/users',
      key: admin.key,
      body: { name: '', email: 'not-an-email', tier: 'platinum' },
    });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    const fields = res.body.errors.map((e: { field: string }) => e.field);
    expect(new Set(fields)).toEqual(new Set(['name', 'email', 'tier']));
    expect(await userCount()).toBe(before);
  });

  it('unknown fields are rejected, not silently dropped', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/api/v1/admin/users',
      key: admin.key,
      body: { name: 'x', email: 'x@example.com', isAdmin: true },
    });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(res.body.errors).toContainEqual({ field: 'isAdmin', message: 'property isAdmin should not exist' });
  });

  it('invalid query parameters are 422 (limit out of range, unknown field); a garbage cursor is 400', async () => {
    for (const query of ['limit=0', 'limit=101', 'limit=abc', 'unknown=1']) {
      const res = await t.request({ method: 'GET', url: `/api/v1/admin/users?${query}`, key: admin.key });
      expectProblem(res, 422, 'VALIDATION_FAILED');
    }
    // The spec: "A cursor the server did not issue is a 400".
    const cursor = await t.request({ method: 'GET', url: '/api/v1/admin/users?cursor=not-a-cursor', key: admin.key });
    expectProblem(cursor, 400, 'INVALID_CURSOR');
    expect(cursor.body.errors).toEqual([{ field: 'cursor', message: 'cursor is not a valid page cursor' }]);
  });

  it('a malformed UUID in the path is 400 naming the parameter, never a database error', async () => {
    const res = await t.request({
      method: 'PATCH',
      url: '/api/v1/admin/users/not-a-uuid',
      key: admin.key,
      body: { tier: 'pro' },
    });
    expectProblem(res, 400, 'BAD_REQUEST');
    expect(res.body.errors).toEqual([{ field: 'id', message: 'id must be a UUID' }]);
  });

  it('an unknown route is 404 problem+json', async () => {
    expectProblem(await t.request({ method: 'GET', url: '/api/v1/nothing-here', key: admin.key }), 404, 'NOT_FOUND');
    expectProblem(await t.request({ method: 'GET', url: '/nothing-here' }), 404, 'NOT_FOUND');
  });

  it('every response carries X-Request-Id: generated, or echoed when the client sent a sane one', async () => {
    const generated = await t.request({ method: 'GET', url: '/api/v1/health/live' });
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const echoed = await t.request({
      method: 'GET',
      url: '/api/v1/health/live',
      headers: { 'x-request-id': 'client-abc.123' },
    });
    expect(echoed.headers['x-request-id']).toBe('client-abc.123');
    const unsafe = await t.request({
      method: 'GET',
      url: '/api/v1/health/live',
      headers: { 'x-request-id': 'a b\u0001c' },
    });
    expect(unsafe.headers['x-request-id']).not.toBe('a b\u0001c');
    // A key pasted into the wrong header never reaches the logs as the request id.
    const keyShaped = 'cvk_' + 'A'.repeat(43);
    const pasted = await t.request({
      method: 'GET',
      url: '/api/v1/health/live',
      headers: { 'x-request-id': keyShaped },
    });
    expect(pasted.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.stringify(t.logs)).not.toContain(keyShaped);
    const failed = await t.request({ method: 'GET', url: '/api/v1/me', headers: { 'x-request-id': 'trace-42' } });
    expect(failed.headers['x-request-id']).toBe('trace-42');
    expect(failed.body.requestId).toBe('trace-42');
  });

  it('a 500 leaks no SQL or stack, and is logged with its stack under the request id', async () => {
    // Break the schema under the running app: the next query fails inside PostgreSQL.
    await t.db.pool.query('ALTER TABLE users RENAME TO users_broken');
    try {
      const res = await t.request({ method: 'GET', url: '/api/v1/admin/users', key: admin.key });
      expect(res.status).toBeGreaterThanOrEqual(500);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.body.code).toBe('INTERNAL');
      expect(res.body.detail).not.toMatch(/users|relation|SELECT|at \w+ \(/);
      expect(res.text).not.toMatch(/relation|SELECT|\.ts:\d+|at \w+ \(/);
      const logged = t.logs.find((l) => l.requestId === res.body.requestId && l.level === 'error');
      expect(logged).toBeDefined();
      expect(JSON.stringify(logged)).toContain('users');
    } finally {
      await t.db.pool.query('ALTER TABLE users_broken RENAME TO users');
    }
  });

  it('request logs carry the request id and never the API key', async () => {
    await t.request({ method: 'GET', url: '/api/v1/me', key: admin.key, headers: { 'x-request-id': 'log-check-1' } });
    const line = t.logs.find((l) => l.requestId === 'log-check-1' && l.msg === 'request completed');
    expect(line).toMatchObject({ method: 'GET', url: '/api/v1/me', statusCode: 200 });
    expect(JSON.stringify(t.logs)).not.toContain(admin.key);
  });
});
