import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgListener } from '../src/database/pg-listener.js';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';
import { waitForStatus } from './helpers/conditions.js';

const FAST_WORKER = { WORKER_POLL_INTERVAL_MS: '50', WORKER_LEASE_MS: '2000', WORKER_SWEEP_INTERVAL_MS: '200' };

describe('Jobs API with an in-process worker', () => {
  let t: TestApp;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    t = await startTestApp(FAST_WORKER);
    alice = await createUser(t.db);
    bob = await createUser(t.db);
  });
  afterAll(async () => t.close());

  const submit = (key: string, body: unknown, headers: Record<string, string> = {}) =>
    t.request({ method: 'POST', url: '/api/v1/jobs', key, body, headers });

  it('lists the job types with schema, cost, timeout and attempts', async () => {
    const res = await t.request({ method: 'GET', url: '/api/v1/job-types', key: alice.key });
    expect(res.status).toBe(200);
    // The shape of every list; the catalog is whole, so no next page.
    expect(res.body.nextCursor).toBeNull();
    const names = res.body.data.map((t: { name: string }) => t.name);
    expect(names).toEqual(expect.arrayContaining(['echo', 'sleep', 'hash', 'text.stats', 'http.request']));
    for (const type of res.body.data) {
      expect(type).toMatchObject({
        inputSchema: expect.any(Object),
        cost: expect.any(Number),
        timeoutMs: expect.any(Number),
      });
    }
  });

  it('runs a job to completion: one result row, one usage record with the type’s cost', async () => {
    const created = await submit(alice.key, { type: 'hash', input: { text: 'hello', algorithm: 'sha256' } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ type: 'hash', status: 'queued', attempts: 0, batchId: null });
    const job = await waitForStatus(t, alice.key, `/api/v1/jobs/${created.body.id}`, ['completed']);
    expect(job.attempts).toBe(1);
    expect(job.finishedAt).not.toBeNull();
    const result = await t.request({ method: 'GET', url: `/api/v1/jobs/${job.id}/result`, key: alice.key });
    expect(result.status).toBe(200);
    expect(result.body.output).toMatchObject({
      hex: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824',
    });
    const rows = await t.db.pool.query('SELECT count(*)::int AS n FROM results WHERE job_id = $1', [job.id]);
    expect(rows.rows[0].n).toBe(1);
    const usage = await t.db.pool.query('SELECT credits, job_type FROM usage_records WHERE job_id = $1', [job.id]);
    expect(usage.rows).toEqual([{ credits: job.cost, job_type: 'hash' }]);
  });

  it('invalid input is 422 listing each violation, and writes nothing', async () => {
    const before = (await t.db.pool.query('SELECT count(*)::int AS n FROM jobs')).rows[0].n;
    const res = await submit(alice.key, { type: 'sleep', input: { ms: -5, extra: true } });
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.errors.length).toBeGreaterThanOrEqual(2);
    expect(res.body.errors.every((e: { field: string }) => e.field.startsWith('input'))).toBe(true);
    const unknown = await submit(alice.key, { type: 'nope', input: {} });
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors[0].field).toBe('type');
    expect((await t.db.pool.query('SELECT count(*)::int AS n FROM jobs')).rows[0].n).toBe(before);
  });

  it('the result of an unfinished job is 409 JOB_NOT_FINISHED', async () => {
    const created = await submit(alice.key, { type: 'sleep', input: { ms: 2000 } });
    const res = await t.request({ method: 'GET', url: `/api/v1/jobs/${created.body.id}/result`, key: alice.key });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('JOB_NOT_FINISHED');
    await t.request({ method: 'POST', url: `/api/v1/jobs/${created.body.id}/cancel`, key: alice.key });
  });

  it('cancelling a running job aborts its handler; a finished job is not cancellable; retry re-queues it', async () => {
    const created = await submit(alice.key, { type: 'sleep', input: { ms: 30000 } });
    await waitForStatus(t, alice.key, `/api/v1/jobs/${created.body.id}`, ['running']);
    const cancelled = await t.request({
      method: 'POST',
      url: `/api/v1/jobs/${created.body.id}/cancel`,
      key: alice.key,
    });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    const again = await t.request({ method: 'POST', url: `/api/v1/jobs/${created.body.id}/cancel`, key: alice.key });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('JOB_NOT_CANCELLABLE');
    // The slot is free again quickly: the aborted handler does not hold it for 30 s.
    const quick = await submit(alice.key, { type: 'echo', input: { n: 1 } });
    await waitForStatus(t, alice.key, `/api/v1/jobs/${quick.body.id}`, ['completed'], { timeout: 5000 });
    const retried = await t.request({ method: 'POST', url: `/api/v1/jobs/${created.body.id}/retry`, key: alice.key });
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ status: 'queued', attempts: 0 });
    await t.request({ method: 'POST', url: `/api/v1/jobs/${created.body.id}/cancel`, key: alice.key });
  });

  it('retry of a job that has not failed or been cancelled is 409 JOB_NOT_RETRYABLE and changes nothing', async () => {
    const retry = (id: string) => t.request({ method: 'POST', url: `/api/v1/jobs/${id}/retry`, key: alice.key });
    const row = async (id: string) =>
      (await t.db.pool.query('SELECT status, attempts, updated_at FROM jobs WHERE id = $1', [id])).rows[0];

    const done = await submit(alice.key, { type: 'echo', input: { n: 'done' } });
    await waitForStatus(t, alice.key, `/api/v1/jobs/${done.body.id}`, ['completed']);
    const running = await submit(alice.key, { type: 'sleep', input: { ms: 30000 } });
    await waitForStatus(t, alice.key, `/api/v1/jobs/${running.body.id}`, ['running']);
    const later = await submit(alice.key, { type: 'echo', input: {}, runAt: new Date(Date.now() + 3_600_000) });

    for (const [id, status] of [
      [done.body.id, 'completed'],
      [running.body.id, 'running'],
      [later.body.id, 'queued'],
    ] as const) {
      const before = await row(id);
      const res = await retry(id);
      expect(res.status, status).toBe(409);
      expect(res.body.code, status).toBe('JOB_NOT_RETRYABLE');
      expect(res.body.detail, status).toContain(`is ${status}`);
      expect(await row(id), status).toEqual(before);
    }
    await t.request({ method: 'POST', url: `/api/v1/jobs/${running.body.id}/cancel`, key: alice.key });
    await t.request({ method: 'POST', url: `/api/v1/jobs/${later.body.id}/cancel`, key: alice.key });
  });

  it('Idempotency-Key: same body replays the original job; a different body is 409', async () => {
    const body = { type: 'echo', input: { a: 1, b: [1, 2] }, metadata: { x: 'y' } };
    const first = await submit(alice.key, body, { 'idempotency-key': 'order-123' });
    expect(first.status).toBe(201);
    const reordered = { metadata: { x: 'y' }, input: { b: [1, 2], a: 1 }, type: 'echo' };
    const replay = await submit(alice.key, reordered, { 'idempotency-key': 'order-123' });
    expect(replay.status).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body.id).toBe(first.body.id);
    const conflict = await submit(alice.key, { type: 'echo', input: { a: 2 } }, { 'idempotency-key': 'order-123' });
    expect(conflict.status).toBe(409);
    expect(conflict.body.code).toBe('IDEMPOTENCY_CONFLICT');
    // Keys are per user: bob's use of the same key is a new job.
    const bobs = await submit(bob.key, body, { 'idempotency-key': 'order-123' });
    expect(bobs.status).toBe(201);
    expect(bobs.body.id).not.toBe(first.body.id);
    const count = await t.db.pool.query(`SELECT count(*)::int AS n FROM jobs WHERE idempotency_key = 'order-123'`);
    expect(count.rows[0].n).toBe(2);
  });

  it('another user’s job is a 404 everywhere', async () => {
    const created = await submit(alice.key, { type: 'echo', input: {} });
    for (const [method, url] of [
      ['GET', `/api/v1/jobs/${created.body.id}`],
      ['GET', `/api/v1/jobs/${created.body.id}/result`],
      ['POST', `/api/v1/jobs/${created.body.id}/cancel`],
      ['POST', `/api/v1/jobs/${created.body.id}/retry`],
    ] as const) {
      const res = await t.request({ method, url, key: bob.key });
      expect(res.status, `${method} ${url}`).toBe(404);
    }
    const list = await t.request({ method: 'GET', url: '/api/v1/jobs?limit=100', key: bob.key });
    expect(list.body.data.map((j: { id: string }) => j.id)).not.toContain(created.body.id);
  });

  it('lists with filters and keyset pagination, newest first', async () => {
    const carol = await createUser(t.db);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await submit(carol.key, { type: 'echo', input: { i } })).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await t.request({
        method: 'GET',
        url: `/api/v1/jobs?type=echo&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        key: carol.key,
      });
      expect(page.status).toBe(200);
      seen.push(...page.body.data.map((j: { id: string }) => j.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    const none = await t.request({ method: 'GET', url: '/api/v1/jobs?status=failed', key: carol.key });
    expect(none.body).toEqual({ data: [], nextCursor: null });
    const bad = await t.request({ method: 'GET', url: '/api/v1/jobs?status=done', key: carol.key });
    expect(bad.status).toBe(422);
  });
});

describe('worker wake-ups after the LISTEN connection is lost', () => {
  it('reconnects by itself: a new job still starts at once, not at the next poll', async () => {
    // Polling every minute: only a NOTIFY can start the job within the test's time.
    const t = await startTestApp({ WORKER_POLL_INTERVAL_MS: '60000' });
    try {
      const user = await createUser(t.db);
      await t.db.pool.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE application_name = 'conveyor-listen' AND datname = current_database()`,
      );
      // Noticed the loss, then reconnected and re-LISTENed every channel (`connected` turns true only then).
      const listener = t.app.get(PgListener);
      await expect.poll(() => listener.connected, { timeout: 5000, interval: 10 }).toBe(false);
      await expect.poll(() => listener.connected, { timeout: 5000 }).toBe(true);
      const created = await t.request({
        method: 'POST',
        url: '/api/v1/jobs',
        key: user.key,
        body: { type: 'echo', input: {} },
      });
      await waitForStatus(t, user.key, `/api/v1/jobs/${created.body.id}`, ['completed'], { timeout: 5000 });
    } finally {
      await t.close();
    }
  });
});
