import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobError, type JobContext } from '../job-type.js';
import { createHttpRequestJobType, HTTP_RESPONSE_MAX_BYTES } from './http-request.job-type.js';

let server: Server;
let origin: string;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

async function handler(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req);
  const json = (status: number, value: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(value));
  };
  switch (req.url) {
    case '/redirect':
      res.writeHead(301, { location: '/elsewhere' }).end('moved');
      return;
    case '/huge':
      res.writeHead(200, { 'content-type': 'application/json' }).end(`"${'y'.repeat(HTTP_RESPONSE_MAX_BYTES * 2)}"`);
      return;
    case '/missing':
      json(404, { error: 'no such thing' });
      return;
    case '/broken':
      res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
      return;
    case '/lying':
      res.writeHead(200, { 'content-type': 'application/json' }).end('not json');
      return;
    case '/hang':
      return;
    default:
      json(200, { method: req.method, host: req.headers.host, headers: req.headers, body });
  }
}

beforeAll(async () => {
  server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const local = createHttpRequestJobType({ allowedCidrs: ['127.0.0.0/8'], allowHttp: true });
const context = (signal = new AbortController().signal): JobContext => ({
  jobId: 'j',
  userId: 'u',
  attempt: 1,
  signal,
});
const run = (input: Record<string, unknown>, type = local, ctx = context()): Promise<any> => type.handle(input, ctx);

async function jobError(promise: Promise<unknown>): Promise<JobError> {
  const error = await promise.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(JobError);
  return error as JobError;
}

describe('http.request job type', () => {
  it('returns status, headers and the parsed JSON body', async () => {
    const out = await run({ method: 'GET', url: `${origin}/things?x=1`, headers: { 'X-Trace': 'abc' } });
    expect(out).toMatchObject({ status: 200, truncated: false, body: { method: 'GET', body: '' } });
    expect(out.headers['content-type']).toContain('application/json');
    expect(out.body.headers['x-trace']).toBe('abc');
    expect(out.body.headers['user-agent']).toMatch(/^conveyor\//);
  });

  it('sends an object body as JSON and a string body as is', async () => {
    const json = await run({ method: 'POST', url: origin, body: { a: 1 } });
    expect(json.body).toMatchObject({ method: 'POST', body: '{"a":1}' });
    expect(json.body.headers['content-type']).toBe('application/json');
    const text = await run({ method: 'PUT', url: origin, body: 'a=1', headers: { 'Content-Type': 'text/plain' } });
    expect(text.body).toMatchObject({ method: 'PUT', body: 'a=1' });
    expect(text.body.headers['content-type']).toBe('text/plain');
  });

  it('sends the original Host header while connecting to the vetted address', async () => {
    const named = createHttpRequestJobType({
      allowedCidrs: ['127.0.0.0/8'],
      allowHttp: true,
      resolve: async () => ['127.0.0.1'],
    });
    const url = origin.replace('127.0.0.1', 'service.example.test');
    const out = await run({ method: 'GET', url }, named);
    expect(out.body.host).toBe(new URL(url).host);
  });

  it('returns a redirect instead of following it', async () => {
    const out = await run({ method: 'GET', url: `${origin}/redirect` });
    expect(out).toMatchObject({ status: 301, body: 'moved', truncated: false });
    expect(out.headers.location).toBe('/elsewhere');
  });

  it('caps the body at 256 KB, flags it, and does not try to parse the cut JSON', async () => {
    const out = await run({ method: 'GET', url: `${origin}/huge` });
    expect(out.truncated).toBe(true);
    expect(typeof out.body).toBe('string');
    expect(out.body).toHaveLength(HTTP_RESPONSE_MAX_BYTES);
  });

  it('returns 4xx and 5xx answers as output, not as errors', async () => {
    await expect(run({ method: 'DELETE', url: `${origin}/missing` })).resolves.toMatchObject({
      status: 404,
      body: { error: 'no such thing' },
    });
    await expect(run({ method: 'GET', url: `${origin}/broken` })).resolves.toMatchObject({ status: 500, body: 'boom' });
  });

  it('returns a mislabelled body as text, and HEAD with an empty body', async () => {
    await expect(run({ method: 'GET', url: `${origin}/lying` })).resolves.toMatchObject({ body: 'not json' });
    await expect(run({ method: 'HEAD', url: origin })).resolves.toMatchObject({ status: 200, body: '' });
  });

  it('refuses internal targets with a non-retryable SSRF_BLOCKED', async () => {
    const strict = createHttpRequestJobType({ allowedCidrs: [], allowHttp: true });
    for (const url of [origin, 'http://169.254.169.254/latest/meta-data/', 'http://[::ffff:127.0.0.1]/']) {
      const error = await jobError(run({ method: 'GET', url }, strict));
      expect(error).toMatchObject({ code: 'SSRF_BLOCKED', retryable: false });
    }
    const httpsOnly = createHttpRequestJobType({ allowedCidrs: ['127.0.0.0/8'], allowHttp: false });
    expect(await jobError(run({ method: 'GET', url: origin }, httpsOnly))).toMatchObject({ code: 'SSRF_BLOCKED' });
  });

  it('retries network errors and timeouts', async () => {
    const refused = await jobError(run({ method: 'GET', url: 'http://127.0.0.1:1/' }));
    expect(refused).toMatchObject({ code: 'HTTP_REQUEST_FAILED', retryable: true });
    const quick = createHttpRequestJobType({ allowedCidrs: ['127.0.0.0/8'], allowHttp: true, timeoutMs: 200 });
    const timedOut = await jobError(run({ method: 'GET', url: `${origin}/hang` }, quick));
    expect(timedOut).toMatchObject({ code: 'HTTP_TIMEOUT', retryable: true });
  });

  it("rethrows the worker's abort reason when the job is cancelled", async () => {
    const controller = new AbortController();
    const reason = new Error('cancelled');
    const pending = run({ method: 'GET', url: `${origin}/hang` }, local, context(controller.signal));
    setTimeout(() => controller.abort(reason), 50);
    await expect(pending).rejects.toBe(reason);
  });
});
