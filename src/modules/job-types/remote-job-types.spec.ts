import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobError, type JobContext } from './job-type.js';
import { createRemoteJobType, readJobTypesFile, type RemoteJobTypeConfig } from './remote-job-types.js';

// A real processor on loopback. The path picks the behaviour.
let server: Server;
let origin: string;
const received: Array<{ body: unknown; headers: IncomingMessage['headers'] }> = [];

async function handler(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  received.push({ body: JSON.parse(Buffer.concat(chunks).toString()), headers: req.headers });
  const send = (status: number, body: string, type = 'application/json'): void => {
    res.writeHead(status, { 'content-type': type }).end(body);
  };
  if (req.url === '/ok') return send(200, JSON.stringify({ resized: true }));
  if (req.url === '/invalid') return send(422, JSON.stringify({ error: 'width must be > 0', pad: 'p'.repeat(5000) }));
  if (req.url === '/unavailable') return send(503, 'try later', 'text/plain');
  if (req.url === '/busy') return send(429, 'slow down', 'text/plain');
  if (req.url === '/html') return send(200, '<html>oops</html>', 'text/html');
  if (req.url === '/empty') return void res.writeHead(204).end();
  if (req.url === '/moved') return void res.writeHead(302, { location: 'http://elsewhere/' }).end();
  if (req.url === '/slow') return void setTimeout(() => send(200, '{}'), 5_000).unref();
  send(404, 'no route', 'text/plain');
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

const remote = (route: string, extra: Partial<RemoteJobTypeConfig> = {}) =>
  createRemoteJobType({
    name: 'image.resize',
    url: `${origin}${route}`,
    inputSchema: {},
    cost: 3,
    timeoutMs: 2000,
    ...extra,
  });
const context = (signal = new AbortController().signal): JobContext => ({
  jobId: 'job-1',
  userId: 'u',
  attempt: 1,
  signal,
});

async function jobError(promise: Promise<unknown>): Promise<JobError> {
  const error = await promise.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(JobError);
  return error as JobError;
}

describe('remote job types', () => {
  it('POSTs {jobId, type, input} as JSON with the configured headers; a 2xx JSON answer is the output', async () => {
    const type = remote('/ok', { headers: { authorization: 'Bearer processor-token' } });
    await expect(type.handle({ width: 100 }, context())).resolves.toEqual({ resized: true });
    expect(received.at(-1)?.body).toEqual({ jobId: 'job-1', type: 'image.resize', input: { width: 100 } });
    expect(received.at(-1)?.headers).toMatchObject({
      'content-type': 'application/json',
      authorization: 'Bearer processor-token',
    });
    expect(type).toMatchObject({ name: 'image.resize', cost: 3, timeoutMs: 3000, maxAttempts: 3 });
  });

  it('fails without retry on 4xx, quoting the status and the first 1 KB of the body', async () => {
    const error = await jobError(remote('/invalid').handle({}, context()));
    expect(error).toMatchObject({ code: 'REMOTE_REJECTED', retryable: false });
    expect(error.message).toContain('422');
    expect(error.message).toContain('width must be > 0');
    expect(error.message.length).toBeLessThan(1200);
  });

  it('retries on 5xx', async () => {
    const error = await jobError(remote('/unavailable').handle({}, context()));
    expect(error).toMatchObject({ code: 'REMOTE_FAILED', retryable: true });
    expect(error.message).toContain('503: try later');
  });

  it('retries on 429: back-pressure is not a rejection', async () => {
    const error = await jobError(remote('/busy').handle({}, context()));
    expect(error).toMatchObject({ code: 'REMOTE_FAILED', retryable: true });
  });

  it('retries when the processor is slower than timeoutMs', async () => {
    const error = await jobError(remote('/slow', { timeoutMs: 200 }).handle({}, context()));
    expect(error).toMatchObject({ code: 'REMOTE_TIMEOUT', retryable: true });
  });

  it('retries when the processor cannot be reached', async () => {
    const down = createRemoteJobType({
      name: 'x',
      url: 'http://127.0.0.1:1/',
      inputSchema: {},
      cost: 1,
      timeoutMs: 2000,
    });
    expect(await jobError(down.handle({}, context()))).toMatchObject({ code: 'REMOTE_FAILED', retryable: true });
  });

  it('fails without retry on a non-JSON 2xx or a redirect; an empty 2xx is null', async () => {
    expect(await jobError(remote('/html').handle({}, context()))).toMatchObject({
      code: 'REMOTE_INVALID_RESPONSE',
      retryable: false,
    });
    const moved = await jobError(remote('/moved').handle({}, context()));
    expect(moved).toMatchObject({ code: 'REMOTE_INVALID_RESPONSE', retryable: false });
    expect(moved.message).toContain('302 to http://elsewhere/');
    await expect(remote('/empty').handle({}, context())).resolves.toBeNull();
  });

  it("rethrows the worker's abort reason", async () => {
    const controller = new AbortController();
    const reason = new Error('cancelled');
    const pending = remote('/slow').handle({}, context(controller.signal));
    setTimeout(() => controller.abort(reason), 50);
    await expect(pending).rejects.toBe(reason);
  });
});

describe('readJobTypesFile', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'conveyor-job-types-'));
  const write = (name: string, text: string): string => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('reads JSON and YAML', () => {
    const entry = {
      name: 'a.b',
      url: 'http://x.internal/run',
      inputSchema: { type: 'object' },
      cost: 1,
      timeoutMs: 1000,
    };
    expect(readJobTypesFile(write('types.json', JSON.stringify([entry])))).toEqual([entry]);
    const yaml =
      '- name: a.b\n  url: http://x.internal/run\n  inputSchema: {type: object}\n  cost: 1\n  timeoutMs: 1000\n';
    expect(readJobTypesFile(write('types.yaml', yaml))).toEqual([entry]);
  });

  it('names the entry and field of every problem', () => {
    const file = write(
      'bad.json',
      JSON.stringify([
        { name: 'ok', url: 'https://p/', inputSchema: {}, cost: 1, timeoutMs: 10 },
        { name: 'resize', url: 'https://p/', inputSchema: {}, cost: -1, timeoutMs: 10, colour: 'red' },
        { name: 'Bad Name', inputSchema: {}, cost: 1, timeoutMs: 10 },
      ]),
    );
    const message = (() => {
      try {
        readJobTypesFile(file);
        return '';
      } catch (error) {
        return (error as Error).message;
      }
    })();
    expect(message).toContain(`JOB_TYPES_FILE ${file} is invalid`);
    expect(message).toContain('entry 2 ("resize"): cost must be >= 0');
    expect(message).toContain('entry 2 ("resize"): colour is not allowed');
    expect(message).toContain('entry 3 ("Bad Name"): name must match pattern');
    expect(message).toContain('entry 3 ("Bad Name"): url is required');
    expect(message).not.toContain('entry 1');
  });

  it('rejects a file that is not a list, unparseable, unreadable or of an unknown kind', () => {
    expect(() => readJobTypesFile(write('object.json', '{"name": "x"}'))).toThrow(/the file must be array/);
    expect(() => readJobTypesFile(write('broken.yaml', 'a: [1,'))).toThrow(/broken\.yaml is invalid/);
    expect(() => readJobTypesFile(path.join(dir, 'missing.json'))).toThrow(/ENOENT/);
    expect(() => readJobTypesFile(write('types.toml', ''))).toThrow(/\.json, \.yaml or \.yml/);
    const badUrl = [{ name: 'x', url: 'http://[nope/', inputSchema: {}, cost: 1, timeoutMs: 10 }];
    expect(() => readJobTypesFile(write('url.json', JSON.stringify(badUrl)))).toThrow(
      /entry 1 \("x"\): url is not a valid URL/,
    );
  });
});
