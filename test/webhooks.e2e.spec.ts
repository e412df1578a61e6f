import { Ajv } from 'ajv';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_CATALOG, type EventType } from '../src/modules/webhooks/event-catalog.js';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';
import { waitForDeliveriesSettled, waitForJobsEnded, waitForStatus } from './helpers/conditions.js';
import { Receiver, type ReceivedRequest } from './helpers/receiver.js';
import { waitFor } from './helpers/wait.js';

/** Compressed retry schedule: 3 retries, 100/200/300 ms apart. */
const WEBHOOK_ENV = {
  WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
  WEBHOOK_ALLOW_HTTP: 'true',
  WEBHOOK_RETRY_SCHEDULE: '100ms,200ms,300ms',
  WEBHOOK_POLL_INTERVAL_MS: '50',
  WEBHOOK_TIMEOUT_MS: '1000',
  WORKER_POLL_INTERVAL_MS: '50',
};

interface Envelope {
  id: string;
  type: EventType;
  createdAt: string;
  data: Record<string, any>;
}

/** Verifies with the `standardwebhooks` package — an implementation independent of ours — and parses. */
function verified(secret: string, request: ReceivedRequest): Envelope {
  return new Webhook(secret).verify(request.body, {
    'webhook-id': request.headers['webhook-id'],
    'webhook-timestamp': request.headers['webhook-timestamp'],
    'webhook-signature': request.headers['webhook-signature'],
  }) as Envelope;
}

describe('webhooks: endpoints, signed delivery, retries, history', () => {
  let t: TestApp;
  let receiver: Receiver;
  let alice: TestUser;
  let bob: TestUser;
  let n = 0;

  beforeAll(async () => {
    receiver = await Receiver.start();
    t = await startTestApp(WEBHOOK_ENV);
    alice = await createUser(t.db);
    bob = await createUser(t.db);
  });
  afterAll(async () => {
    await t.close();
    await receiver.close();
  });

  /** A fresh receiver path and an endpoint on it. */
  async function endpoint(
    user: TestUser,
    events: string[] = ['*'],
  ): Promise<{ id: string; secret: string; path: string; body: any }> {
    n += 1;
    const path = `/hook-${n}`;
    const res = await t.request({
      method: 'POST',
      url: '/api/v1/webhooks',
      key: user.key,
      body: { url: `${receiver.url}${path}`, events, description: `endpoint ${n}` },
    });
    expect(res.status).toBe(201);
    return { id: res.body.id, secret: res.body.secret, path, body: res.body };
  }

  async function submitJob(user: TestUser, input: Record<string, unknown> = { hello: 'world' }): Promise<string> {
    const res = await t.request({ method: 'POST', url: '/api/v1/jobs', key: user.key, body: { type: 'echo', input } });
    expect(res.status).toBe(201);
    return res.body.id;
  }

  async function onlyDelivery(user: TestUser, webhookId: string): Promise<any> {
    const list = await t.request({ method: 'GET', url: `/api/v1/webhooks/${webhookId}/deliveries`, key: user.key });
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    return list.body.data[0];
  }

  /** The delivery once it has succeeded or failed for good. */
  const settled = (user: TestUser, webhookId: string, deliveryId: string, timeout = 10_000): Promise<any> =>
    waitForStatus(t, user.key, `/api/v1/webhooks/${webhookId}/deliveries/${deliveryId}`, ['succeeded', 'failed'], {
      timeout,
    });

  it('creates an endpoint: the secret is shown once, whsec_ + ≥ 24 bytes, and stored only encrypted', async () => {
    const { id, secret, body } = await endpoint(alice, ['job.completed']);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(secret.slice(6), 'base64').length).toBeGreaterThanOrEqual(24);
    expect(body).toMatchObject({ events: ['job.completed'], active: true, disabledReason: null });

    const row = await t.db.pool.query(`SELECT secret_encrypted FROM webhooks WHERE id = $1`, [id]);
    expect(row.rows[0].secret_encrypted).toMatch(/^v1\./);
    expect(row.rows[0].secret_encrypted).not.toContain(secret.slice(6));

    const got = await t.request({ method: 'GET', url: `/api/v1/webhooks/${id}`, key: alice.key });
    expect(got.status).toBe(200);
    expect(got.body.secret).toBeUndefined();
    expect(JSON.stringify(got.body)).not.toContain(secret.slice(6));
    const list = await t.request({ method: 'GET', url: '/api/v1/webhooks', key: alice.key });
    expect(list.body.data.map((w: any) => w.id)).toContain(id);
    expect(JSON.stringify(list.body)).not.toContain('whsec_');
    expect(JSON.stringify(t.logs)).not.toContain(secret.slice(6));
  });

  it('rejects bad input with 422 naming the field, and writes nothing', async () => {
    const before = await t.db.pool.query(`SELECT count(*)::int AS n FROM webhooks`);
    const cases = [
      { url: `${receiver.url}/x`, events: ['job.exploded'] },
      { url: `${receiver.url}/x`, events: [] },
      { url: 'ftp://example.com/hook', events: ['*'] },
      { url: 'not a url', events: ['*'] },
      { url: `${receiver.url}/x`, events: ['*'], extra: true },
    ];
    for (const body of cases) {
      const res = await t.request({ method: 'POST', url: '/api/v1/webhooks', key: alice.key, body });
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.body.errors.length).toBeGreaterThan(0);
    }
    const after = await t.db.pool.query(`SELECT count(*)::int AS n FROM webhooks`);
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it('updates only the fields sent, and deletes', async () => {
    const { id } = await endpoint(alice, ['job.failed']);
    const put = await t.request({
      method: 'PUT',
      url: `/api/v1/webhooks/${id}`,
      key: alice.key,
      body: { events: ['job.completed', 'job.failed'] },
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ events: ['job.completed', 'job.failed'], description: expect.any(String) });
    const del = await t.request({ method: 'DELETE', url: `/api/v1/webhooks/${id}`, key: alice.key });
    expect(del.status).toBe(204);
    expect((await t.request({ method: 'GET', url: `/api/v1/webhooks/${id}`, key: alice.key })).status).toBe(404);
  });

  it('a job’s life reaches a "*" endpoint as job.created, job.started, job.completed, each verified', async () => {
    const { id, secret, path } = await endpoint(alice, ['*']);
    const jobId = await submitJob(alice, { n: 1 });
    await expect.poll(() => receiver.at(path).length, { timeout: 10_000 }).toBe(3);
    // Exactly three: once the job has ended and none of this endpoint's deliveries is pending,
    // a fourth (a duplicate, or another user's event) would have arrived already.
    await waitForJobsEnded(t.db, { ids: [jobId] });
    await waitForDeliveriesSettled(t.db, { webhookId: id });
    expect(receiver.at(path)).toHaveLength(3);
    const events = receiver.at(path).map((r) => verified(secret, r));
    expect(events.map((e) => e.type).sort()).toEqual(['job.completed', 'job.created', 'job.started']);
    const ajv = new Ajv({ strict: false, validateFormats: false });
    for (const [i, event] of events.entries()) {
      const request = receiver.at(path)[i];
      expect(event.id).toMatch(/^evt_[0-9a-f]{32}$/);
      expect(request.headers['webhook-id']).toBe(event.id);
      expect(request.headers['content-type']).toBe('application/json');
      expect(event.data.id).toBe(jobId);
      expect(Date.parse(event.createdAt)).not.toBeNaN();
      // The catalog's schema describes what is really sent.
      expect(ajv.validate(EVENT_CATALOG[event.type].schema, event.data), JSON.stringify(ajv.errors)).toBe(true);
    }
    const completed = events.find((e) => e.type === 'job.completed');
    expect(completed?.data).toMatchObject({ status: 'completed', output: { n: 1 } });
  });

  it('an endpoint only receives the types it subscribes to; other users’ events never reach it', async () => {
    const { id, secret, path } = await endpoint(alice, ['job.completed']);
    const bobsJob = await submitJob(bob);
    const jobId = await submitJob(alice);
    await expect.poll(() => receiver.at(path).length, { timeout: 10_000 }).toBe(1);
    // Both jobs have ended, so every event of theirs (created, started, completed) is stored with
    // its deliveries, in the transaction of its change; once none of this endpoint's deliveries is
    // pending, all were sent. A delivery of another type or of bob's job would be a second request.
    await waitForJobsEnded(t.db, { ids: [bobsJob, jobId] });
    await waitForDeliveriesSettled(t.db, { webhookId: id });
    expect(receiver.at(path)).toHaveLength(1);
    expect(verified(secret, receiver.at(path)[0])).toMatchObject({ type: 'job.completed', data: { id: jobId } });
  });

  it('cancelling a job sends job.cancelled; a job that fails for good sends job.failed', async () => {
    const { secret, path } = await endpoint(alice, ['job.cancelled', 'job.failed']);
    const future = await t.request({
      method: 'POST',
      url: '/api/v1/jobs',
      key: alice.key,
      body: { type: 'echo', input: {}, runAt: new Date(Date.now() + 3_600_000).toISOString() },
    });
    await t.request({ method: 'POST', url: `/api/v1/jobs/${future.body.id}/cancel`, key: alice.key });
    const failing = await t.request({
      method: 'POST',
      url: '/api/v1/jobs',
      key: alice.key,
      body: { type: 'http.request', input: { method: 'GET', url: 'http://127.0.0.1:1/' }, maxAttempts: 1 },
    });
    expect(failing.status).toBe(201);
    await expect.poll(() => receiver.at(path).length, { timeout: 10_000 }).toBe(2);
    const byType = Object.fromEntries(
      receiver
        .at(path)
        .map((r) => verified(secret, r))
        .map((e) => [e.type, e]),
    );
    expect(byType['job.cancelled'].data).toMatchObject({ id: future.body.id, status: 'cancelled' });
    expect(byType['job.failed'].data).toMatchObject({
      id: failing.body.id,
      status: 'failed',
      error: expect.any(Object),
    });
  });

  it('POST /test sends webhook.test to that endpoint, whatever it subscribes to', async () => {
    const { id, secret, path } = await endpoint(alice, ['job.failed']);
    const res = await t.request({ method: 'POST', url: `/api/v1/webhooks/${id}/test`, key: alice.key });
    expect(res.status).toBe(202);
    const d = await settled(alice, id, res.body.deliveryId);
    expect(d).toMatchObject({ status: 'succeeded', attemptCount: 1, eventId: res.body.eventId, lastStatusCode: 200 });
    expect(verified(secret, receiver.at(path)[0])).toMatchObject({
      id: res.body.eventId,
      type: 'webhook.test',
      data: { webhookId: id },
    });
  });

  it('during a rotation every delivery verifies with the old secret and the new one; later with the new only', async () => {
    const { id, secret: oldSecret, path } = await endpoint(alice, ['job.completed']);
    const rotated = await t.request({ method: 'POST', url: `/api/v1/webhooks/${id}/rotate-secret`, key: alice.key });
    expect(rotated.status).toBe(200);
    const newSecret: string = rotated.body.secret;
    expect(newSecret).not.toBe(oldSecret);

    await t.request({ method: 'POST', url: `/api/v1/webhooks/${id}/test`, key: alice.key });
    await expect.poll(() => receiver.at(path).length, { timeout: 10_000 }).toBe(1);
    const during = receiver.at(path)[0];
    expect(during.headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(verified(oldSecret, during).type).toBe('webhook.test');
    expect(verified(newSecret, during).type).toBe('webhook.test');

    // 24 hours later (moved, not waited for): the old secret no longer signs.
    await t.db.pool.query(
      `UPDATE webhooks SET previous_secret_expires_at = now() - interval '1 second' WHERE id = $1`,
      [id],
    );
    await t.request({ method: 'POST', url: `/api/v1/webhooks/${id}/test`, key: alice.key });
    await expect.poll(() => receiver.at(path).length, { timeout: 10_000 }).toBe(2);
    const after = receiver.at(path)[1];
    expect(after.headers['webhook-signature'].split(' ')).toHaveLength(1);
    expect(verified(newSecret, after).type).toBe('webhook.test');
    expect(() => verified(oldSecret, after)).toThrow();
  });

  it('retries on the schedule until the receiver succeeds; the history has every attempt, same webhook-id', async () => {
    const { id, secret, path } = await endpoint(alice, ['job.completed']);
    receiver.on(path, (count) => (count <= 2 ? { status: 500, body: 'boom '.repeat(1000) } : { status: 200 }));
    await submitJob(alice);
    await expect.poll(() => receiver.at(path).length, { timeout: 10_000 }).toBe(3);
    const d = await settled(alice, id, (await onlyDelivery(alice, id)).id);
    expect(d).toMatchObject({ status: 'succeeded', attemptCount: 3, lastStatusCode: 200, lastError: null });
    expect(d.attempts.map((a: any) => a.statusCode)).toEqual([500, 500, 200]);
    expect(d.attempts[0]).toMatchObject({ error: 'HTTP 500', durationMs: expect.any(Number) });
    expect(d.attempts[0].responseBody).toHaveLength(2048); // the first 2 KB of the body
    const ids = new Set(receiver.at(path).map((r) => r.headers['webhook-id']));
    expect(ids.size).toBe(1);
    const [first, second, third] = receiver.at(path);
    expect(second.at - first.at).toBeGreaterThanOrEqual(90 - 5); // 100 ms −10 % jitter
    expect(third.at - second.at).toBeGreaterThanOrEqual(180 - 5); // 200 ms −10 %
    for (const r of receiver.at(path)) expect(verified(secret, r).type).toBe('job.completed');
  });

  it('gives up when the schedule is used up; retry and recover send it again with the same webhook-id', async () => {
    const { id, path } = await endpoint(alice, ['job.completed']);
    receiver.on(path, () => ({ status: 503 }));
    await submitJob(alice);
    const first = await onlyDeliveryEventually(alice, id);
    const failed = await settled(alice, id, first.id);
    expect(failed).toMatchObject({ status: 'failed', attemptCount: 4, lastStatusCode: 503 });

    receiver.on(path, () => ({ status: 204 }));
    const retried = await t.request({
      method: 'POST',
      url: `/api/v1/webhooks/${id}/deliveries/${first.id}/retry`,
      key: alice.key,
    });
    expect(retried.status).toBe(202);
    expect(await settled(alice, id, first.id)).toMatchObject({ status: 'succeeded', attemptCount: 5 });
    const again = await t.request({
      method: 'POST',
      url: `/api/v1/webhooks/${id}/deliveries/${first.id}/retry`,
      key: alice.key,
    });
    expect(again.status).toBe(409);

    // Fail it again, then recover everything failed in the last minute.
    // Requests 6 and 7 fail, the 8th (second retry of the recovered delivery) succeeds.
    receiver.on(path, (count) => (count <= 7 ? { status: 500 } : { status: 200 }));
    await t.db.pool.query(`UPDATE webhook_deliveries SET status = 'failed' WHERE id = $1`, [first.id]);
    const recovered = await t.request({
      method: 'POST',
      url: `/api/v1/webhooks/${id}/recover`,
      key: alice.key,
      body: { since: new Date(Date.now() - 60_000).toISOString() },
    });
    expect(recovered.status).toBe(202);
    expect(recovered.body).toEqual({ recovered: 1 });
    expect(await settled(alice, id, first.id)).toMatchObject({ status: 'succeeded' });
    expect(new Set(receiver.at(path).map((r) => r.headers['webhook-id'])).size).toBe(1);
  });

  async function onlyDeliveryEventually(user: TestUser, webhookId: string): Promise<any> {
    await waitFor(
      `webhook ${webhookId} to have one delivery`,
      async () =>
        (await t.request({ method: 'GET', url: `/api/v1/webhooks/${webhookId}/deliveries`, key: user.key })).body.data
          .length,
      (n) => n === 1,
    );
    return onlyDelivery(user, webhookId);
  }

  it('replaying an event is a new delivery the receiver sees with the same webhook-id', async () => {
    const { id, secret, path } = await endpoint(alice, ['job.completed']);
    await submitJob(alice);
    const original = await onlyDeliveryEventually(alice, id);
    await settled(alice, id, original.id);
    const replay = await t.request({
      method: 'POST',
      url: `/api/v1/webhooks/${id}/events/${original.eventId}/replay`,
      key: alice.key,
    });
    expect(replay.status).toBe(202);
    expect(replay.body.id).not.toBe(original.id);
    expect(await settled(alice, id, replay.body.id)).toMatchObject({ status: 'succeeded', eventId: original.eventId });
    expect(receiver.at(path).map((r) => r.headers['webhook-id'])).toEqual([original.eventId, original.eventId]);
    expect(verified(secret, receiver.at(path)[1]).id).toBe(original.eventId);
  });

  it('a timeout is a failed attempt with the error, then retried', async () => {
    const { id, path } = await endpoint(alice, ['job.completed']);
    receiver.on(path, (count) => (count === 1 ? { delayMs: 1500 } : { status: 200 }));
    const res = await t.request({ method: 'POST', url: `/api/v1/webhooks/${id}/test`, key: alice.key });
    const d = await settled(alice, id, res.body.deliveryId);
    expect(d.status).toBe('succeeded');
    expect(d.attempts[0]).toMatchObject({ statusCode: null, error: 'No complete response within 1000 ms' });
    expect(d.attempts[0].durationMs).toBeGreaterThanOrEqual(950);
  });

  it('410 Gone fails the delivery and disables the endpoint; PUT active: true re-enables it', async () => {
    const { id, path } = await endpoint(alice, ['job.completed']);
    receiver.on(path, () => ({ status: 410 }));
    const res = await t.request({ method: 'POST', url: `/api/v1/webhooks/${id}/test`, key: alice.key });
    expect(await settled(alice, id, res.body.deliveryId)).toMatchObject({ status: 'failed', attemptCount: 1 });
    const hook = (await t.request({ method: 'GET', url: `/api/v1/webhooks/${id}`, key: alice.key })).body;
    expect(hook).toMatchObject({ active: false, disabledReason: expect.stringContaining('410') });

    // Disabled: new events are not queued for it, and a test is refused.
    const jobId = await submitJob(alice);
    await expect
      .poll(async () => (await t.request({ method: 'GET', url: `/api/v1/jobs/${jobId}`, key: alice.key })).body.status)
      .toBe('completed');
    const test = await t.request({ method: 'POST', url: `/api/v1/webhooks/${id}/test`, key: alice.key });
    expect(test.status).toBe(409);

    receiver.on(path, () => ({ status: 200 }));
    const put = await t.request({
      method: 'PUT',
      url: `/api/v1/webhooks/${id}`,
      key: alice.key,
      body: { active: true },
    });
    expect(put.body).toMatchObject({ active: true, disabledReason: null });
    const after = await t.request({ method: 'POST', url: `/api/v1/webhooks/${id}/test`, key: alice.key });
    expect(await settled(alice, id, after.body.deliveryId)).toMatchObject({ status: 'succeeded' });
    expect(receiver.at(path)).toHaveLength(2); // the 410 and the test after re-enabling, no job event
  });

  it('an endpoint failing continuously for WEBHOOK_DISABLE_AFTER is disabled', async () => {
    const { id, path } = await endpoint(alice, ['job.completed']);
    receiver.on(path, () => ({ status: 500 }));
    // Failing for six days already (moved, not waited for); the default limit is five.
    await t.db.pool.query(`UPDATE webhooks SET failing_since = now() - interval '6 days' WHERE id = $1`, [id]);
    const res = await t.request({ method: 'POST', url: `/api/v1/webhooks/${id}/test`, key: alice.key });
    await settled(alice, id, res.body.deliveryId);
    const hook = (await t.request({ method: 'GET', url: `/api/v1/webhooks/${id}`, key: alice.key })).body;
    expect(hook).toMatchObject({ active: false, disabledReason: expect.stringContaining('Failing continuously') });
  });

  it('honours Retry-After on 429 within bounds', async () => {
    const { id, path } = await endpoint(alice, ['job.completed']);
    receiver.on(path, (count) => (count === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }));
    const res = await t.request({ method: 'POST', url: `/api/v1/webhooks/${id}/test`, key: alice.key });
    await settled(alice, id, res.body.deliveryId);
    const [first, second] = receiver.at(path);
    expect(second.at - first.at).toBeGreaterThanOrEqual(950); // not the schedule's 100 ms
  });

  it('filters and pages the delivery list', async () => {
    const { id, path } = await endpoint(alice, ['job.completed']);
    receiver.on(path, () => ({ status: 200 }));
    for (let i = 0; i < 3; i += 1)
      await t.request({ method: 'POST', url: `/api/v1/webhooks/${id}/test`, key: alice.key });
    await expect.poll(() => receiver.at(path).length, { timeout: 10_000 }).toBe(3);
    const page1 = await t.request({
      method: 'GET',
      url: `/api/v1/webhooks/${id}/deliveries?limit=2&eventType=webhook.test`,
      key: alice.key,
    });
    expect(page1.body.data).toHaveLength(2);
    expect(page1.body.nextCursor).toEqual(expect.any(String));
    const page2 = await t.request({
      method: 'GET',
      url: `/api/v1/webhooks/${id}/deliveries?limit=2&eventType=webhook.test&cursor=${page1.body.nextCursor}`,
      key: alice.key,
    });
    expect(page2.body.data).toHaveLength(1);
    expect(page2.body.nextCursor).toBeNull();
    await expect
      .poll(
        async () =>
          (
            await t.request({
              method: 'GET',
              url: `/api/v1/webhooks/${id}/deliveries?status=succeeded`,
              key: alice.key,
            })
          ).body.data.length,
      )
      .toBe(3);
    const none = await t.request({
      method: 'GET',
      url: `/api/v1/webhooks/${id}/deliveries?status=failed`,
      key: alice.key,
    });
    expect(none.body.data).toEqual([]);
    const bad = await t.request({
      method: 'GET',
      url: `/api/v1/webhooks/${id}/deliveries?status=lost`,
      key: alice.key,
    });
    expect(bad.status).toBe(422);
  });

  it('another user’s webhook, delivery or event is a 404', async () => {
    const mine = await endpoint(alice, ['job.completed']);
    const theirs = await endpoint(bob, ['job.completed']);
    const test = await t.request({ method: 'POST', url: `/api/v1/webhooks/${theirs.id}/test`, key: bob.key });
    const theirDelivery = test.body.deliveryId;
    const theirEvent = test.body.eventId;
    const asAlice = [
      { method: 'GET', url: `/api/v1/webhooks/${theirs.id}` },
      { method: 'PUT', url: `/api/v1/webhooks/${theirs.id}`, body: { active: false } },
      { method: 'DELETE', url: `/api/v1/webhooks/${theirs.id}` },
      { method: 'POST', url: `/api/v1/webhooks/${theirs.id}/rotate-secret` },
      { method: 'POST', url: `/api/v1/webhooks/${theirs.id}/test` },
      { method: 'GET', url: `/api/v1/webhooks/${theirs.id}/deliveries` },
      { method: 'GET', url: `/api/v1/webhooks/${theirs.id}/deliveries/${theirDelivery}` },
      { method: 'POST', url: `/api/v1/webhooks/${theirs.id}/deliveries/${theirDelivery}/retry` },
      { method: 'POST', url: `/api/v1/webhooks/${theirs.id}/recover`, body: { since: '2026-01-01T00:00:00Z' } },
      // Their delivery and their event through my own endpoint.
      { method: 'GET', url: `/api/v1/webhooks/${mine.id}/deliveries/${theirDelivery}` },
      { method: 'POST', url: `/api/v1/webhooks/${mine.id}/events/${theirEvent}/replay` },
    ] as const;
    for (const call of asAlice) {
      const res = await t.request({ ...call, key: alice.key });
      expect(res.status, `${call.method} ${call.url}`).toBe(404);
    }
    const still = await t.request({ method: 'GET', url: `/api/v1/webhooks/${theirs.id}`, key: bob.key });
    expect(still.body).toMatchObject({ active: true });
  });

  it('serves the event catalog: every type with a schema and a full example envelope', async () => {
    const res = await t.request({ method: 'GET', url: '/api/v1/webhooks/event-types', key: alice.key });
    expect(res.status).toBe(200);
    expect(res.body.nextCursor).toBeNull();
    expect(res.body.data.map((e: any) => e.type)).toEqual([
      'job.created',
      'job.started',
      'job.completed',
      'job.failed',
      'job.cancelled',
      'batch.created',
      'batch.completed',
      'pipeline.completed',
      'pipeline.failed',
      'webhook.test',
    ]);
    const ajv = new Ajv({ strict: false, validateFormats: false });
    for (const entry of res.body.data) {
      expect(entry.example).toMatchObject({
        id: expect.stringMatching(/^evt_/),
        type: entry.type,
        data: expect.any(Object),
      });
      expect(ajv.validate(entry.schema, entry.example.data), `${entry.type}: ${JSON.stringify(ajv.errors)}`).toBe(true);
    }
  });
});

describe('webhooks: a slow endpoint does not hold up the others', () => {
  it('with 20 events backed up on a slow endpoint, another endpoint’s events go out at once', async () => {
    const receiver = await Receiver.start();
    // Four delivery slots in all, two per endpoint at most.
    const t = await startTestApp({
      ...WEBHOOK_ENV,
      WEBHOOK_TIMEOUT_MS: '5000',
      WEBHOOK_CONCURRENCY: '4',
      WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT: '2',
    });
    try {
      const user = await createUser(t.db);
      receiver.on('/slow', () => ({ status: 200, delayMs: 500 }));
      const make = async (path: string) =>
        (
          await t.request({
            method: 'POST',
            url: '/api/v1/webhooks',
            key: user.key,
            body: { url: `${receiver.url}${path}`, events: ['job.completed'] },
          })
        ).body.id as string;
      const slow = await make('/slow');
      const fast = await make('/fast');
      for (let i = 0; i < 20; i += 1) {
        await t.request({ method: 'POST', url: `/api/v1/webhooks/${slow}/test`, key: user.key });
      }
      for (let i = 0; i < 5; i += 1) {
        await t.request({ method: 'POST', url: `/api/v1/webhooks/${fast}/test`, key: user.key });
      }
      await expect.poll(() => receiver.at('/fast').length, { timeout: 10_000, interval: 10 }).toBe(5);
      // Without the per-endpoint cap the four slots would go to the slow backlog first (it is older):
      // the fast endpoint would wait for at least 16 slow requests. Two slow slots, 500 ms each, allow few.
      expect(receiver.at('/slow').length).toBeLessThanOrEqual(8);
    } finally {
      await t.close();
      await receiver.close();
    }
  });
});
