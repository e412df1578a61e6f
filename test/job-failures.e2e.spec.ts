import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';

/**
 * Failure paths through the real worker, with remote job types served by a real local processor:
 * a handler that fails N times then succeeds, one that always fails, one too slow, one whose
 * output breaks its schema, one that rejects the job.
 */
describe('worker failure handling', () => {
  let t: TestApp;
  let user: TestUser;
  let server: Server;
  let dir: string;
  const calls = new Map<string, number>();

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const { jobId } = JSON.parse(body) as { jobId: string };
        const n = (calls.get(jobId) ?? 0) + 1;
        calls.set(jobId, n);
        const send = (status: number, payload: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(payload));
        };
        if (req.url === '/flaky') return n < 3 ? send(500, { error: 'boom' }) : send(200, { ok: true, calls: n });
        if (req.url === '/broken') return send(500, { error: 'always' });
        if (req.url === '/slow') return void setTimeout(() => send(200, { late: true }), 5000);
        if (req.url === '/bad-output') return send(200, { ok: 'not-a-boolean' });
        if (req.url === '/reject') return send(422, { error: 'no' });
        // Valid JSON that PostgreSQL's jsonb refuses: a lone surrogate, and nesting deeper than any limit.
        if (req.url === '/lone-surrogate') return void res.end('{"a":"\\ud800"}');
        if (req.url === '/deep') return void res.end(`${'['.repeat(5000)}${']'.repeat(5000)}`);
        send(404, {});
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const type = (name: string, extra: Record<string, unknown> = {}) => ({
      name,
      url: `${base}/${name}`,
      inputSchema: { type: 'object' },
      cost: 1,
      timeoutMs: 1000,
      maxAttempts: 3,
      backoff: { baseMs: 50, maxMs: 100 },
      ...extra,
    });
    dir = await mkdtemp(path.join(tmpdir(), 'conveyor-types-'));
    const file = path.join(dir, 'job-types.json');
    await writeFile(
      file,
      JSON.stringify([
        type('flaky'),
        type('broken'),
        type('slow', { timeoutMs: 200, maxAttempts: 2 }),
        type('bad-output', {
          outputSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] },
        }),
        type('reject'),
        type('lone-surrogate'),
        type('deep'),
      ]),
    );
    t = await startTestApp({ JOB_TYPES_FILE: file, WORKER_POLL_INTERVAL_MS: '50' });
    user = await createUser(t.db);
  });
  afterAll(async () => {
    await t.close();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  async function run(type: string): Promise<any> {
    const created = await t.request({ method: 'POST', url: '/api/v1/jobs', key: user.key, body: { type, input: {} } });
    expect(created.status).toBe(201);
    let job: any;
    await expect
      .poll(
        async () => {
          job = (await t.request({ method: 'GET', url: `/api/v1/jobs/${created.body.id}`, key: user.key })).body;
          return job.status;
        },
        { timeout: 15_000, interval: 50 },
      )
      .toMatch(/completed|failed/);
    return job;
  }

  it('a handler that fails twice then succeeds completes on the third attempt', async () => {
    const job = await run('flaky');
    expect(job).toMatchObject({ status: 'completed', attempts: 3, error: null });
    const result = await t.request({ method: 'GET', url: `/api/v1/jobs/${job.id}/result`, key: user.key });
    expect(result.body.output).toEqual({ ok: true, calls: 3 });
  });

  it('a handler that always fails ends failed after maxAttempts, with the last error', async () => {
    const job = await run('broken');
    expect(job).toMatchObject({ status: 'failed', attempts: 3, error: { code: 'REMOTE_FAILED' } });
    expect(calls.get(job.id)).toBe(3);
  });

  it('a handler slower than its timeout is aborted and retried, then fails', async () => {
    const job = await run('slow');
    expect(job.status).toBe('failed');
    expect(job.attempts).toBe(2);
    expect(['REMOTE_TIMEOUT', 'TIMEOUT']).toContain(job.error.code);
  });

  it('output that breaks the type’s schema fails the job without retry', async () => {
    const job = await run('bad-output');
    expect(job).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'INVALID_OUTPUT' } });
    const result = await t.db.pool.query('SELECT count(*)::int AS n FROM results WHERE job_id = $1', [job.id]);
    expect(result.rows[0].n).toBe(0);
  });

  it.each(['lone-surrogate', 'deep'])(
    'output PostgreSQL cannot store (%s) fails the job at once, without running it again',
    async (type) => {
      const job = await run(type);
      expect(job).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'INVALID_OUTPUT' } });
      // Before: the write failed, the lease lapsed and the handler (an outbound request) ran again.
      expect(calls.get(job.id)).toBe(1);
    },
  );

  it('a 4xx rejection fails the job at once', async () => {
    const job = await run('reject');
    expect(job).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'REMOTE_REJECTED' } });
  });
});
