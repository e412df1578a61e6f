import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueSweeperService } from '../src/modules/queue/worker/queue-sweeper.service.js';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';
import { waitForDeliveriesSettled, waitForIdleWorker, waitForJobsEnded, waitForStatus } from './helpers/conditions.js';
import { Receiver } from './helpers/receiver.js';

const ENV = {
  WORKER_POLL_INTERVAL_MS: '50',
  WORKER_SWEEP_INTERVAL_MS: '200',
  WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
  WEBHOOK_ALLOW_HTTP: 'true',
  WEBHOOK_POLL_INTERVAL_MS: '50',
  BATCH_MAX_ITEMS_FREE: '5',
  BATCH_MAX_ITEMS_PRO: '3000',
};

describe('batches', () => {
  let t: TestApp;
  let pro: TestUser;
  let free: TestUser;
  let other: TestUser;

  beforeAll(async () => {
    t = await startTestApp(ENV);
    pro = await createUser(t.db, { tier: 'pro' });
    free = await createUser(t.db, { tier: 'free' });
    other = await createUser(t.db, { tier: 'pro' });
  });
  afterAll(async () => t.close());

  const postJson = (user: TestUser, body: unknown) =>
    t.request({ method: 'POST', url: '/api/v1/batches', key: user.key, body });
  const postNdjson = (user: TestUser, lines: string[]) =>
    t.request({
      method: 'POST',
      url: '/api/v1/batches',
      key: user.key,
      payload: lines.join('\n'),
      headers: { 'content-type': 'application/x-ndjson' },
    });
  const getBatch = async (user: TestUser, id: string) =>
    (await t.request({ method: 'GET', url: `/api/v1/batches/${id}`, key: user.key })).body;

  const waitForBatch = (user: TestUser, id: string, status: string): Promise<any> =>
    waitForStatus(t, user.key, `/api/v1/batches/${id}`, [status], { timeout: 20_000 });

  async function jobCount(): Promise<number> {
    return (await t.db.pool.query(`SELECT count(*)::int AS n FROM jobs`)).rows[0].n;
  }

  it('a JSON batch: all jobs created at once with usage records, run, and counted to completed', async () => {
    const items = Array.from({ length: 30 }, (_, i) => ({
      customId: `row-${i}`,
      type: 'hash',
      input: { text: `item ${i}`, algorithm: 'sha256' },
      metadata: { i },
    }));
    const res = await postJson(pro, { items, metadata: { source: 'test' } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'in_progress', metadata: { source: 'test' }, completedAt: null });
    expect(res.body.counts.total).toBe(30);
    const usage = await t.db.pool.query(
      `SELECT count(*)::int AS n FROM usage_records u JOIN jobs j ON j.id = u.job_id WHERE j.batch_id = $1`,
      [res.body.id],
    );
    expect(usage.rows[0].n).toBe(30);
    const done = await waitForBatch(pro, res.body.id, 'completed');
    expect(done.counts).toEqual({ total: 30, queued: 0, running: 0, completed: 30, failed: 0, cancelled: 0 });
    expect(done.completedAt).toEqual(expect.any(String));
  });

  it('an NDJSON batch is read line by line; blank lines are skipped', async () => {
    const lines = ['{"customId":"a","type":"echo","input":{"n":1}}', '', '{"type":"echo","input":{"n":2}}', ''];
    const res = await postNdjson(pro, lines);
    expect(res.status).toBe(201);
    expect(res.body.counts.total).toBe(2);
    await waitForBatch(pro, res.body.id, 'completed');
  });

  it('one bad item rejects the whole batch with its line or index, and nothing is written', async () => {
    const before = await jobCount();
    const batchesBefore = (await t.db.pool.query(`SELECT count(*)::int AS n FROM batches`)).rows[0].n;
    const nd = await postNdjson(pro, [
      '{"customId":"x","type":"echo","input":{}}',
      '{"customId":"x","type":"echo","input":{}}',
      'not json',
      '{"type":"nope","input":{}}',
      '{"type":"sleep","input":{"ms":"long"}}',
      '{"type":"echo","input":{},"extra":1}',
      '{"type":"echo","input":{"t":"a\\u0000b"}}',
    ]);
    expect(nd.status).toBe(422);
    expect(nd.body.code).toBe('VALIDATION_FAILED');
    const fields = nd.body.errors.map((e: any) => e.field);
    expect(fields).toEqual(
      expect.arrayContaining(['line[2].customId', 'line[3]', 'line[4].type', 'line[5].input.ms', 'line[6]', 'line[7]']),
    );
    expect(nd.body.totalErrors).toBe(nd.body.errors.length);

    const json = await postJson(pro, {
      items: [
        { type: 'echo', input: {} },
        { type: 'hash', input: { text: 1 } },
      ],
    });
    expect(json.status).toBe(422);
    expect(json.body.errors[0].field).toMatch(/^items\[1\]\.input/);

    expect(await jobCount()).toBe(before);
    expect((await t.db.pool.query(`SELECT count(*)::int AS n FROM batches`)).rows[0].n).toBe(batchesBefore);
  });

  it('lists at most 100 errors, with the total', async () => {
    const lines = Array.from({ length: 250 }, () => '{"type":"echo"}');
    const res = await postNdjson(pro, lines);
    expect(res.status).toBe(422);
    expect(res.body.errors).toHaveLength(100);
    expect(res.body.totalErrors).toBe(250);
  });

  it('enforces the tier’s maximum number of items', async () => {
    const six = Array.from({ length: 6 }, () => ({ type: 'echo', input: {} }));
    const res = await postJson(free, { items: six });
    expect(res.status).toBe(422);
    expect(res.body.errors[0]).toMatchObject({ field: 'items', message: expect.stringContaining('at most 5') });
    const ok = await postJson(free, { items: six.slice(0, 5) });
    expect(ok.status).toBe(201);
    const empty = await postJson(free, { items: [] });
    expect(empty.status).toBe(422);
    const wrongShape = await postJson(free, { items: {}, extra: 1 });
    expect(wrongShape.status).toBe(422);
    const notNdjson = await t.request({
      method: 'POST',
      url: '/api/v1/jobs',
      key: free.key,
      payload: '{"type":"echo","input":{}}',
      headers: { 'content-type': 'application/x-ndjson' },
    });
    expect(notNdjson.status).toBe(415);
  });

  it('streams results as JSON Lines and CSV that equal the job rows, in upload order', async () => {
    const items = [
      { customId: 'plain', type: 'echo', input: { text: 'hello' } },
      { customId: 'comma,"quote"', type: 'echo', input: { text: 'a, "b"\nnew line' } },
      { type: 'http.request', input: { method: 'GET', url: 'http://127.0.0.1:1/' } }, // fails: SSRF refused
    ];
    const res = await postJson(pro, { items });
    const id = res.body.id;
    await waitForBatch(pro, id, 'completed');

    const jsonl = await t.request({ method: 'GET', url: `/api/v1/batches/${id}/results`, key: pro.key });
    expect(jsonl.status).toBe(200);
    expect(jsonl.headers['content-type']).toContain('application/x-ndjson');
    expect(jsonl.headers['content-disposition']).toBe(`attachment; filename="batch-${id}.jsonl"`);
    const lines = jsonl.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const jobs = (
      await t.db.pool.query(
        `SELECT j.id, j.custom_id, j.status, j.error, r.output FROM jobs j LEFT JOIN results r ON r.job_id = j.id
          WHERE j.batch_id = $1 ORDER BY j.batch_item`,
        [id],
      )
    ).rows;
    expect(lines).toEqual(
      jobs.map((j) =>
        j.status === 'completed'
          ? { customId: j.custom_id, jobId: j.id, status: j.status, output: j.output }
          : { customId: j.custom_id, jobId: j.id, status: j.status, error: j.error },
      ),
    );
    expect(lines.map((l) => l.status)).toEqual(['completed', 'completed', 'failed']);

    const csv = await t.request({ method: 'GET', url: `/api/v1/batches/${id}/results?format=csv`, key: pro.key });
    expect(csv.headers['content-type']).toContain('text/csv');
    const records = parse(csv.text, { columns: true }) as Array<Record<string, string>>;
    expect(records.map((r) => r.customId)).toEqual(['plain', 'comma,"quote"', '']);
    expect(JSON.parse(records[1].output)).toEqual({ text: 'a, "b"\nnew line' });
    expect(records[2]).toMatchObject({ status: 'failed', output: '', errorCode: expect.any(String) });

    const failedOnly = await t.request({
      method: 'GET',
      url: `/api/v1/batches/${id}/results?status=failed`,
      key: pro.key,
    });
    expect(failedOnly.text.trim().split('\n')).toHaveLength(1);
    const bad = await t.request({ method: 'GET', url: `/api/v1/batches/${id}/results?format=xml`, key: pro.key });
    expect(bad.status).toBe(422);

    // The batch has ended: its failed job cannot be retried (its counts and batch.completed are final).
    const retry = await t.request({ method: 'POST', url: `/api/v1/jobs/${lines[2].jobId}/retry`, key: pro.key });
    expect(retry.status).toBe(409);
    expect(retry.body.detail).toContain('batch that has ended');
  });

  it('shows progress while running, and cancel ends it cancelled with right counts', async () => {
    const items = Array.from({ length: 40 }, () => ({ type: 'sleep', input: { ms: 200 } }));
    const res = await postJson(pro, { items });
    const id = res.body.id;
    await expect.poll(async () => (await getBatch(pro, id)).counts.completed, { timeout: 10_000 }).toBeGreaterThan(0);
    const mid = await getBatch(pro, id);
    expect(mid.status).toBe('in_progress');
    expect(mid.counts.total).toBe(40);
    expect(mid.counts.queued + mid.counts.running + mid.counts.completed).toBe(40);

    const cancelled = await t.request({ method: 'POST', url: `/api/v1/batches/${id}/cancel`, key: pro.key });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    const { counts } = cancelled.body;
    expect(counts.queued + counts.running).toBe(0);
    expect(counts.completed + counts.cancelled).toBe(40);
    expect(counts.cancelled).toBeGreaterThan(0);
    // Nothing runs on: once the worker has returned from every handler it was running when the
    // batch was cancelled, and a sweep pass has run, the counts are the same. They would differ if
    // a cancelled job's handler still completed or failed it (a write not guarded by its status),
    // if a job were left queued or running, or if the sweeper re-queued a cancelled job.
    await waitForJobsEnded(t.db, { batchId: id });
    await waitForIdleWorker(t);
    await t.app.get(QueueSweeperService).sweepOnce();
    expect((await getBatch(pro, id)).counts).toEqual(counts);
    const again = await t.request({ method: 'POST', url: `/api/v1/batches/${id}/cancel`, key: pro.key });
    expect(again.status).toBe(409);
  });

  it('sends batch.created and exactly one batch.completed with the final counts', async () => {
    const receiver = await Receiver.start();
    try {
      const hook = await t.request({
        method: 'POST',
        url: '/api/v1/webhooks',
        key: other.key,
        body: { url: `${receiver.url}/b`, events: ['batch.created', 'batch.completed'] },
      });
      expect(hook.status).toBe(201);
      const items = Array.from({ length: 25 }, (_, i) => ({ type: 'echo', input: { i } }));
      const res = await postJson(other, { items });
      await waitForBatch(other, res.body.id, 'completed');
      await expect.poll(() => receiver.at('/b').length, { timeout: 10_000 }).toBe(2);
      // Still exactly one batch.completed once everything that could send a second one is over: the
      // batch checks of the worker's last handlers (the worker is idle), a sweeper pass (its repair
      // pass over open batches), and the sending of every delivery they created. A second event
      // (the batch ended twice: a lost status re-check) would be a third request here.
      await waitForIdleWorker(t);
      await t.app.get(QueueSweeperService).sweepOnce();
      await waitForDeliveriesSettled(t.db, { userId: other.id });
      const stored = await t.db.pool.query(
        `SELECT count(*)::int AS n FROM webhook_events WHERE type = 'batch.completed' AND data ->> 'id' = $1`,
        [res.body.id],
      );
      expect(stored.rows[0].n).toBe(1);
      const events = receiver.at('/b').map((r) => JSON.parse(r.body));
      expect(events.map((e) => e.type).sort()).toEqual(['batch.completed', 'batch.created']);
      const completed = events.find((e) => e.type === 'batch.completed');
      expect(completed.data).toMatchObject({
        id: res.body.id,
        status: 'completed',
        counts: { total: 25, completed: 25, queued: 0, running: 0, failed: 0, cancelled: 0 },
      });
    } finally {
      await receiver.close();
    }
  });

  it('another user’s batch is a 404 everywhere', async () => {
    const res = await postJson(other, { items: [{ type: 'echo', input: {} }] });
    const id = res.body.id;
    for (const call of [
      { method: 'GET', url: `/api/v1/batches/${id}` },
      { method: 'GET', url: `/api/v1/batches/${id}/results` },
      { method: 'POST', url: `/api/v1/batches/${id}/cancel` },
    ] as const) {
      expect((await t.request({ ...call, key: pro.key })).status, call.url).toBe(404);
    }
    const list = await t.request({ method: 'GET', url: '/api/v1/batches', key: pro.key });
    expect(list.body.data.map((b: any) => b.id)).not.toContain(id);
  });
});

describe('batch body limit', () => {
  it('an NDJSON body over BATCH_BODY_LIMIT_BYTES is a 413 and creates nothing', async () => {
    const t = await startTestApp({ BATCH_BODY_LIMIT_BYTES: '4096', ROLE: 'api' });
    try {
      const user = await createUser(t.db, { tier: 'pro' });
      const line = JSON.stringify({ type: 'echo', input: { pad: 'x'.repeat(100) } });
      const res = await t.request({
        method: 'POST',
        url: '/api/v1/batches',
        key: user.key,
        payload: Array.from({ length: 100 }, () => line).join('\n'),
        headers: { 'content-type': 'application/x-ndjson' },
      });
      expect(res.status).toBe(413);
      expect(res.body.code).toBe('PAYLOAD_TOO_LARGE');
      const big = await t.request({
        method: 'POST',
        url: '/api/v1/batches',
        key: user.key,
        body: { items: Array.from({ length: 100 }, () => JSON.parse(line)) },
      });
      expect(big.status).toBe(413);
      expect((await t.db.pool.query(`SELECT count(*)::int AS n FROM jobs`)).rows[0].n).toBe(0);
    } finally {
      await t.close();
    }
  });
});
