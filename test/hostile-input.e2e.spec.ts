import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';
import { waitForStatus } from './helpers/conditions.js';
import { Receiver } from './helpers/receiver.js';

/**
 * Input a hostile client sends to get a 500 or to make the service hold memory: text PostgreSQL
 * cannot store, deep nesting, forged cursors, dates out of PostgreSQL's range, oversized batch
 * items and metadata (issue 10). Each must be a 4xx naming the field, and write nothing.
 */

const BODY_LIMIT = 16_384;
const METADATA_LIMIT = 1024;

/** `levels` arrays, one inside the other, as JSON text. */
const nestedArrays = (levels: number): string => `${'['.repeat(levels)}${']'.repeat(levels)}`;

/** A cursor in the server's encoding of `[createdAt, id]`. */
const cursorOf = (createdAt: unknown, id: unknown): string =>
  Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');

/** The issue's forged cursor: `["1","00000000-0000-4000-8000-000000000000"]`. */
const FORGED_CURSOR = 'WyIxIiwiMDAwMDAwMDAtMDAwMC00MDAwLTgwMDAtMDAwMDAwMDAwMDAwIl0';

describe('hostile input', () => {
  let t: TestApp;
  let receiver: Receiver;
  let admin: TestUser;
  let alice: TestUser;
  let pipelineId: string;
  let webhookId: string;

  beforeAll(async () => {
    receiver = await Receiver.start();
    t = await startTestApp({
      BODY_LIMIT_BYTES: String(BODY_LIMIT),
      METADATA_LIMIT_BYTES: String(METADATA_LIMIT),
      WORKER_POLL_INTERVAL_MS: '50',
      WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
      WEBHOOK_ALLOW_HTTP: 'true',
    });
    admin = await createUser(t.db, { role: 'admin' });
    alice = await createUser(t.db, { tier: 'pro' });
    const pipeline = await t.request({
      method: 'POST',
      url: '/api/v1/pipelines',
      key: alice.key,
      body: { name: 'p', steps: [{ type: 'echo' }] },
    });
    expect(pipeline.status).toBe(201);
    pipelineId = pipeline.body.id;
    const hook = await t.request({
      method: 'POST',
      url: '/api/v1/webhooks',
      key: alice.key,
      body: { url: `${receiver.url}/hook`, events: ['batch.completed'] },
    });
    expect(hook.status).toBe(201);
    webhookId = hook.body.id;
  });
  afterAll(async () => {
    await t.close();
    await receiver.close();
  });

  /** A POST with a raw JSON text, so that escapes such as `\ud800` reach the server as sent. */
  const postRaw = (url: string, payload: string, key = alice.key) =>
    t.request({ method: 'POST', url, key, payload, headers: { 'content-type': 'application/json' } });
  const postNdjson = (lines: string[], key = alice.key) =>
    t.request({
      method: 'POST',
      url: '/api/v1/batches',
      key,
      payload: lines.join('\n'),
      headers: { 'content-type': 'application/x-ndjson' },
    });

  /** Rows the tests could have written: none may appear from a refused request. */
  async function written(): Promise<Record<string, number>> {
    const { rows } = await t.db.pool.query<Record<string, number>>(
      `SELECT (SELECT count(*)::int FROM jobs) AS jobs, (SELECT count(*)::int FROM batches) AS batches,
              (SELECT count(*)::int FROM pipelines) AS pipelines, (SELECT count(*)::int FROM pipeline_jobs) AS runs,
              (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM webhooks) AS webhooks`,
    );
    return rows[0];
  }

  function expectProblem(res: { status: number; body: any }, status: number, code: string, field?: string): void {
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    expect(res.body.code).toBe(code);
    if (field !== undefined) expect(res.body.errors?.[0]?.field).toBe(field);
  }

  describe('lone UTF-16 surrogates (and NUL) anywhere in a body are refused up front, naming the field', () => {
    it('in jsonb fields and object keys of every route: 400, nothing written', async () => {
      const before = await written();
      const cases: Array<[string, string, string]> = [
        ['/api/v1/jobs', '{"type":"echo","input":{"text":"\\ud800"}}', 'input.text'],
        ['/api/v1/jobs', '{"type":"echo","input":{"\\udc00":1}}', 'input.\udc00'],
        ['/api/v1/jobs', '{"type":"echo","input":{},"metadata":{"a":["ok","x\\udbff"]}}', 'metadata.a[1]'],
        ['/api/v1/pipelines', '{"name":"p","steps":[{"type":"echo","params":{"a":"\\ud800"}}]}', 'steps[0].params.a'],
        [`/api/v1/pipelines/${pipelineId}/runs`, '{"input":{"a":"\\ud800"}}', 'input.a'],
        [`/api/v1/pipelines/${pipelineId}/runs`, '{"input":{},"metadata":{"\\ud800":1}}', 'metadata.\ud800'],
        ['/api/v1/batches', '{"items":[{"type":"echo","input":{"t":"\\ud800"}}]}', 'items[0].input.t'],
        ['/api/v1/batches', '{"items":[{"type":"echo","input":{}}],"metadata":{"m":"\\ud800"}}', 'metadata.m'],
      ];
      for (const [url, payload, field] of cases) {
        const res = await postRaw(url, payload);
        expectProblem(res, 400, 'BAD_REQUEST', field);
        expect(res.body.errors[0].message).toContain('lone UTF-16 surrogate');
      }
      expect(await written()).toEqual(before);
    });

    it('in text fields too, rather than stored as U+FFFD; an admin email of "\\ud800" is a 400, not a 500', async () => {
      const before = await written();
      const cases: Array<[string, string, string, string]> = [
        ['/api/v1/admin/users', '{"name":"x","email":"\\ud800"}', 'email', admin.key],
        ['/api/v1/admin/users', '{"name":"a\\ud800","email":"lone@example.com"}', 'name', admin.key],
        ['/api/v1/pipelines', '{"name":"\\udfff","steps":[{"type":"echo"}]}', 'name', alice.key],
        [
          '/api/v1/webhooks',
          `{"url":"${receiver.url}/x","events":["*"],"description":"\\ud800"}`,
          'description',
          alice.key,
        ],
      ];
      for (const [url, payload, field, key] of cases)
        expectProblem(await postRaw(url, payload, key), 400, 'BAD_REQUEST', field);
      const update = await t.request({
        method: 'PUT',
        url: `/api/v1/webhooks/${webhookId}`,
        key: alice.key,
        payload: '{"description":"\\ud800"}',
        headers: { 'content-type': 'application/json' },
      });
      expectProblem(update, 400, 'BAD_REQUEST', 'description');
      expect(await written()).toEqual(before);
    });

    it('in an NDJSON line: a 422 entry for that line; the batch is not created', async () => {
      const before = await written();
      const res = await postNdjson([
        '{"type":"echo","input":{}}',
        '{"type":"echo","input":{"t":"\\ud800"}}',
        '{"type":"echo","input":{"\\u0000":1}}',
      ]);
      expectProblem(res, 422, 'VALIDATION_FAILED');
      expect(res.body.errors).toEqual([
        { field: 'line[2]', message: expect.stringMatching(/^input\.t must not contain a lone UTF-16 surrogate/) },
        { field: 'line[3]', message: 'input.\0 must not contain the NUL character' },
      ]);
      expect(await written()).toEqual(before);
    });

    it('a surrogate pair (an emoji) is valid text: accepted, stored and returned unchanged', async () => {
      const res = await postRaw('/api/v1/jobs', '{"type":"echo","input":{"text":"\\ud83d\\ude00"}}');
      expect(res.status).toBe(201);
      await waitForStatus(t, alice.key, `/api/v1/jobs/${res.body.id}`, ['completed']);
      const result = await t.request({ method: 'GET', url: `/api/v1/jobs/${res.body.id}/result`, key: alice.key });
      expect(result.body.output).toEqual({ text: '😀' });
    });
  });

  describe('JSON nesting deeper than JSON_MAX_DEPTH (32) is a 422 naming where, checked before any recursive walk', () => {
    it('1,400 nested arrays (a 2.8 KB body) in input, params or metadata: 422, nothing written', async () => {
      const before = await written();
      const deep = nestedArrays(1400);
      const inA = `input.a${'[0]'.repeat(30)}`; // body 1, input 2, a 3 … the 33rd level
      const cases: Array<[string, string, string]> = [
        ['/api/v1/jobs', `{"type":"echo","input":{"a":${deep}}}`, inA],
        ['/api/v1/jobs', `{"type":"echo","input":{},"metadata":{"a":${deep}}}`, `metadata.a${'[0]'.repeat(30)}`],
        [
          '/api/v1/pipelines',
          `{"name":"p","steps":[{"type":"echo","params":{"a":${deep}}}]}`,
          `steps[0].params.a${'[0]'.repeat(28)}`,
        ],
        [`/api/v1/pipelines/${pipelineId}/runs`, `{"input":{"a":${deep}}}`, inA],
        ['/api/v1/batches', `{"items":[{"type":"echo","input":{"a":${deep}}}]}`, `items[0].${inA}`],
      ];
      for (const [url, payload, field] of cases) {
        const res = await postRaw(url, payload);
        expectProblem(res, 422, 'VALIDATION_FAILED', field);
        expect(res.body.errors[0].message).toContain('deeper than 32 levels');
      }
      const line = await postNdjson([`{"type":"echo","input":{"a":${deep}}}`]);
      expectProblem(line, 422, 'VALIDATION_FAILED', 'line[1]');
      expect(line.body.errors[0].message).toBe(
        `${inA} nests arrays and objects deeper than 32 levels (JSON_MAX_DEPTH)`,
      );
      expect(await written()).toEqual(before);
    });

    it('exactly 32 levels are accepted, in a job body and as a batch item in either form', async () => {
      const atLimit = nestedArrays(30); // input.a: levels 3..32
      const job = await postRaw('/api/v1/jobs', `{"type":"echo","input":{"a":${atLimit}}}`);
      expect(job.status).toBe(201);
      const over = await postRaw('/api/v1/jobs', `{"type":"echo","input":{"a":${nestedArrays(31)}}}`);
      expectProblem(over, 422, 'VALIDATION_FAILED');
      const json = await postRaw('/api/v1/batches', `{"items":[{"type":"echo","input":{"a":${atLimit}}}]}`);
      expect(json.status).toBe(201);
      const ndjson = await postNdjson([`{"type":"echo","input":{"a":${atLimit}}}`]);
      expect(ndjson.status).toBe(201);
      // Ended, with their batch.completed deliveries written, before the lists below are compared.
      for (const id of [json.body.id, ndjson.body.id]) {
        await waitForStatus(t, alice.key, `/api/v1/batches/${id}`, ['completed']);
      }
    });
  });

  describe('forged pagination cursors are 400 INVALID_CURSOR on every list', () => {
    const lists = (): Array<[string, string]> => [
      ['/api/v1/jobs', alice.key],
      ['/api/v1/batches', alice.key],
      ['/api/v1/pipelines', alice.key],
      ['/api/v1/pipeline-runs', alice.key],
      ['/api/v1/webhooks', alice.key],
      [`/api/v1/webhooks/${webhookId}/deliveries`, alice.key],
      ['/api/v1/admin/users', admin.key],
    ];
    const ID = '00000000-0000-4000-8000-000000000000';

    it('the issue’s cursor and other forgeries: 400 naming the field `cursor`', async () => {
      const forged = [
        FORGED_CURSOR,
        cursorOf('-271821-04-20 00:00:00+00', ID), // Date.parse takes it, PostgreSQL does not
        cursorOf('2026-02-30 00:00:00+00', ID), // no such day
        cursorOf('2026-11-28T18:07:26.284Z', ID), // ISO, but not what PostgreSQL writes
        cursorOf('2026-11-28 18:07:26.284531+00', 'ABCDEF00-0000-4000-8000-000000000000'), // PostgreSQL writes lowercase
        cursorOf('2026-11-28 18:07:26.284531+00', 'not-a-uuid'),
        cursorOf(1, ID),
        `${cursorOf('2026-11-28 18:07:26.284531+00', ID)}==`, // decodes the same, but was not issued so
        'x'.repeat(600),
        '\u202e',
      ];
      for (const [url, key] of lists()) {
        for (const cursor of forged) {
          const res = await t.request({ method: 'GET', url: `${url}?cursor=${encodeURIComponent(cursor)}`, key });
          expectProblem(res, 400, 'INVALID_CURSOR', 'cursor');
          expect(res.headers['content-type']).toContain('application/problem+json');
        }
      }
    });

    it('a well-formed cursor pages from where it says, on every list', async () => {
      // After the newest possible row: the page is the whole list.
      const top = cursorOf('9999-12-31 23:59:59.999999+00', 'ffffffff-ffff-4fff-bfff-ffffffffffff');
      // Before the oldest possible row: an empty page.
      const bottom = cursorOf('1970-01-01 00:00:00+00', ID);
      for (const [url, key] of lists()) {
        const all = await t.request({ method: 'GET', url: `${url}?limit=100`, key });
        expect(all.status).toBe(200);
        const fromTop = await t.request({ method: 'GET', url: `${url}?limit=100&cursor=${top}`, key });
        expect(fromTop.status, url).toBe(200);
        expect(fromTop.body.data.map((r: any) => r.id)).toEqual(all.body.data.map((r: any) => r.id));
        const fromBottom = await t.request({ method: 'GET', url: `${url}?cursor=${bottom}`, key });
        expect(fromBottom.status, url).toBe(200);
        expect(fromBottom.body).toEqual({ data: [], nextCursor: null });
      }
      // And the cursors the server issues work: two pages of jobs, no overlap.
      const first = await t.request({ method: 'GET', url: '/api/v1/jobs?limit=1', key: alice.key });
      expect(first.body.nextCursor).toEqual(expect.any(String));
      const second = await t.request({
        method: 'GET',
        url: `/api/v1/jobs?limit=1&cursor=${first.body.nextCursor}`,
        key: alice.key,
      });
      expect(second.status).toBe(200);
      expect(second.body.data[0].id).not.toBe(first.body.data[0].id);
    });
  });

  describe('dates must be ISO 8601 within years 1970–9999: else a 422 naming the field', () => {
    const bad: unknown[] = [
      '-271821-04-20T00:00:00Z',
      '+275760-09-13T00:00:00Z',
      '1969-12-31T23:59:59Z',
      '10000-01-01T00:00:00Z',
      '9999-12-31T23:00:00-05:00', // year 10000 in UTC
      'March 7, 2026',
      '1',
      '2026-11-28T10:00:00', // no time zone: the server's local time
      '2026-02-30T00:00:00Z',
      '2026-11-28T24:00:00Z',
      1_700_000_000_000,
      '',
    ];

    it('runAt of POST /jobs', async () => {
      const before = await written();
      for (const runAt of bad) {
        const res = await t.request({
          method: 'POST',
          url: '/api/v1/jobs',
          key: alice.key,
          body: { type: 'echo', input: {}, runAt },
        });
        expectProblem(res, 422, 'VALIDATION_FAILED', 'runAt');
      }
      expect(await written()).toEqual(before);
      const ok = await t.request({
        method: 'POST',
        url: '/api/v1/jobs',
        key: alice.key,
        body: { type: 'echo', input: {}, runAt: '2026-11-28T18:07:26.284531+01:00' },
      });
      expect(ok.status).toBe(201);
      expect(ok.body.runAt).toBe('2026-11-28T17:07:26.284Z');
    });

    it('createdAfter and createdBefore of GET /jobs', async () => {
      for (const field of ['createdAfter', 'createdBefore']) {
        for (const value of bad) {
          const res = await t.request({
            method: 'GET',
            url: `/api/v1/jobs?${field}=${encodeURIComponent(String(value))}`,
            key: alice.key,
          });
          expectProblem(res, 422, 'VALIDATION_FAILED', field);
        }
      }
      const ok = await t.request({
        method: 'GET',
        url: '/api/v1/jobs?createdAfter=2000-01-01&createdBefore=9999-12-31T23:59:59.999Z',
        key: alice.key,
      });
      expect(ok.status).toBe(200);
      expect(ok.body.data.length).toBeGreaterThan(0);
    });

    it('since and until of POST /webhooks/{id}/recover', async () => {
      for (const field of ['since', 'until']) {
        for (const value of bad) {
          const res = await t.request({
            method: 'POST',
            url: `/api/v1/webhooks/${webhookId}/recover`,
            key: alice.key,
            body: { since: '2026-01-01T00:00:00Z', [field]: value },
          });
          expectProblem(res, 422, 'VALIDATION_FAILED', field);
        }
      }
      const ok = await t.request({
        method: 'POST',
        url: `/api/v1/webhooks/${webhookId}/recover`,
        key: alice.key,
        body: { since: '2026-01-01', until: '9999-12-31T23:59:59Z' },
      });
      expect(ok.status).toBe(202);
    });
  });

  describe('batch items obey the POST /jobs body limit, and metadata METADATA_LIMIT_BYTES', () => {
    const item = (pad: number, extra = ''): string => `{"type":"echo","input":{"pad":"${'x'.repeat(pad)}"}${extra}}`;
    const ITEM_OVERHEAD = item(0).length;

    it('an NDJSON line over BODY_LIMIT_BYTES is a 422 entry for that line, read without holding it; nothing is created', async () => {
      const before = await written();
      const huge = item(4 * 1024 * 1024); // 4 MB on one line, 256 × the limit
      const res = await postNdjson([item(10), huge, item(10), item(BODY_LIMIT)]);
      expectProblem(res, 422, 'VALIDATION_FAILED');
      expect(res.body.errors).toEqual([
        {
          field: 'line[2]',
          message: `is ${huge.length} bytes; an item may be at most ${BODY_LIMIT} bytes (BODY_LIMIT_BYTES), like a POST /jobs body`,
        },
        { field: 'line[4]', message: expect.stringContaining(`at most ${BODY_LIMIT} bytes`) },
      ]);
      expect(res.body.totalErrors).toBe(2);
      expect(await written()).toEqual(before);
      // CRLF line ends and a long line split across chunks change nothing.
      const crlf = await t.request({
        method: 'POST',
        url: '/api/v1/batches',
        key: alice.key,
        payload: [item(10), huge, item(10)].join('\r\n'),
        headers: { 'content-type': 'application/x-ndjson' },
      });
      expectProblem(crlf, 422, 'VALIDATION_FAILED', 'line[2]');
      expect(crlf.body.totalErrors).toBe(1);
      expect(await written()).toEqual(before);
    });

    it('a line of exactly BODY_LIMIT_BYTES is accepted, one byte more is not', async () => {
      const exact = item(BODY_LIMIT - ITEM_OVERHEAD);
      expect(Buffer.byteLength(exact)).toBe(BODY_LIMIT);
      expectProblem(await postNdjson([item(BODY_LIMIT - ITEM_OVERHEAD + 1)]), 422, 'VALIDATION_FAILED', 'line[1]');
      const ok = await postNdjson([exact, '']);
      expect(ok.status).toBe(201);
      expect(ok.body.counts.total).toBe(1);
    });

    it('an element of a JSON batch larger than BODY_LIMIT_BYTES is a 422 naming the item', async () => {
      const before = await written();
      const res = await postRaw('/api/v1/batches', `{"items":[${item(10)},${item(BODY_LIMIT)}]}`);
      expectProblem(res, 422, 'VALIDATION_FAILED', 'items[1]');
      expect(res.body.errors[0].message).toContain(`at most ${BODY_LIMIT} bytes`);
      expect(await written()).toEqual(before);
    });

    it('metadata over METADATA_LIMIT_BYTES: POST /jobs, batch items (both forms), the batch, a pipeline run', async () => {
      const before = await written();
      const big = `{"note":"${'m'.repeat(METADATA_LIMIT)}"}`;
      const small = `{"note":"${'m'.repeat(METADATA_LIMIT - 20)}"}`;
      const cases: Array<[Promise<{ status: number; body: any }>, string]> = [
        [postRaw('/api/v1/jobs', `{"type":"echo","input":{},"metadata":${big}}`), 'metadata'],
        [postNdjson([item(1, `,"metadata":${big}`)]), 'line[1].metadata'],
        [postRaw('/api/v1/batches', `{"items":[${item(1, `,"metadata":${big}`)}]}`), 'items[0].metadata'],
        [postRaw('/api/v1/batches', `{"items":[${item(1)}],"metadata":${big}}`), 'metadata'],
        [postRaw(`/api/v1/pipelines/${pipelineId}/runs`, `{"input":{},"metadata":${big}}`), 'metadata'],
      ];
      for (const [request, field] of cases) {
        const res = await request;
        expectProblem(res, 422, 'VALIDATION_FAILED', field);
        expect(res.body.errors[0].message).toContain(`at most ${METADATA_LIMIT} bytes (METADATA_LIMIT_BYTES)`);
      }
      expect(await written()).toEqual(before);
      const ok = await postRaw('/api/v1/jobs', `{"type":"echo","input":{},"metadata":${small}}`);
      expect(ok.status).toBe(201);
    });
  });
});
