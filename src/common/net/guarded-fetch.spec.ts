import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpTimeoutError } from './http-client.js';
import { guardedFetch, SsrfBlockedError, SsrfGuard } from './ssrf-guard.js';

// A real server on loopback; the guard reaches it only because 127.0.0.0/8 is allowed.
let server: Server;
let port: number;
const seen: Array<{ url: string; host: string | undefined; remote: string | undefined }> = [];

function handler(req: IncomingMessage, res: ServerResponse): void {
  seen.push({ url: req.url ?? '', host: req.headers.host, remote: req.socket.remoteAddress });
  if (req.url === '/hang') return; // never answers
  if (req.url === '/redirect') {
    res.writeHead(302, { location: 'http://169.254.169.254/' }).end();
    return;
  }
  if (req.url === '/big') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('x'.repeat(10_000));
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json', 'x-multi': ['a', 'b'] });
  res.end(JSON.stringify({ path: req.url }));
}

beforeAll(async () => {
  server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const base = { method: 'GET', timeoutMs: 2000, maxResponseBytes: 1024 };

describe('guardedFetch', () => {
  it('connects to the vetted address once, sending the original Host header (no DNS rebinding)', async () => {
    let lookups = 0;
    // First answer is allowed; any later answer would point somewhere else entirely.
    const rebinding = async (): Promise<string[]> => (lookups++ === 0 ? ['127.0.0.1'] : ['10.9.9.9']);
    const guard = new SsrfGuard({ allowedCidrs: ['127.0.0.0/8'], allowHttp: true }, rebinding);

    const res = await guardedFetch(`http://api.example.test:${port}/hello?x=1`, base, guard);

    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({ path: '/hello?x=1' });
    expect(res.headers['x-multi']).toBe('a, b');
    expect(res.truncated).toBe(false);
    expect(lookups).toBe(1);
    expect(seen.at(-1)).toMatchObject({ host: `api.example.test:${port}`, remote: '127.0.0.1' });
  });

  it('does not follow redirects', async () => {
    const guard = new SsrfGuard({ allowedCidrs: ['127.0.0.0/8'], allowHttp: true });
    const before = seen.length;
    const res = await guardedFetch(`http://127.0.0.1:${port}/redirect`, base, guard);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('http://169.254.169.254/');
    expect(seen.length).toBe(before + 1);
  });

  it('keeps at most maxResponseBytes and flags the rest as truncated', async () => {
    const guard = new SsrfGuard({ allowedCidrs: ['127.0.0.0/8'], allowHttp: true });
    const res = await guardedFetch(`http://127.0.0.1:${port}/big`, base, guard);
    expect(res.body.length).toBe(1024);
    expect(res.truncated).toBe(true);
    const exact = await guardedFetch(`http://127.0.0.1:${port}/big`, { ...base, maxResponseBytes: 10_000 }, guard);
    expect(exact).toMatchObject({ truncated: false });
    expect(exact.body.length).toBe(10_000);
  });

  it('refuses a forbidden target without connecting', async () => {
    const guard = new SsrfGuard({ allowedCidrs: [], allowHttp: true });
    const before = seen.length;
    await expect(guardedFetch(`http://127.0.0.1:${port}/`, base, guard)).rejects.toBeInstanceOf(SsrfBlockedError);
    expect(seen.length).toBe(before);
  });

  it('times out a server that never answers', async () => {
    const guard = new SsrfGuard({ allowedCidrs: ['127.0.0.0/8'], allowHttp: true });
    const error = await guardedFetch(`http://127.0.0.1:${port}/hang`, { ...base, timeoutMs: 200 }, guard).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(HttpTimeoutError);
  });

  it("rethrows the caller's abort reason unchanged", async () => {
    const guard = new SsrfGuard({ allowedCidrs: ['127.0.0.0/8'], allowHttp: true });
    const controller = new AbortController();
    const reason = new Error('job cancelled');
    const pending = guardedFetch(`http://127.0.0.1:${port}/hang`, { ...base, signal: controller.signal }, guard);
    setTimeout(() => controller.abort(reason), 50);
    await expect(pending).rejects.toBe(reason);
  });

  it('surfaces connection errors', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const guard = new SsrfGuard({ allowedCidrs: ['127.0.0.0/8'], allowHttp: true });
    await expect(guardedFetch(`http://127.0.0.1:${closedPort}/`, base, guard)).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });

  // A throwaway self-signed certificate; openssl is on the CI image, the test is skipped without it.
  const certDir = mkdtempSync(path.join(tmpdir(), 'conveyor-tls-'));
  const openssl = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=service.example.test',
    '-keyout',
    path.join(certDir, 'key.pem'),
    '-out',
    path.join(certDir, 'cert.pem'),
  ]);

  it.skipIf(openssl.status !== 0)('sends the original name as TLS SNI and verifies the certificate', async () => {
    const tls = {
      key: readFileSync(path.join(certDir, 'key.pem')),
      cert: readFileSync(path.join(certDir, 'cert.pem')),
    };
    const names: string[] = [];
    const secure = createHttpsServer({
      ...tls,
      SNICallback: (servername, done) => {
        names.push(servername);
        done(null, createSecureContext(tls));
      },
    });
    await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
    try {
      const securePort = (secure.address() as AddressInfo).port;
      const guard = new SsrfGuard({ allowedCidrs: ['127.0.0.0/8'], allowHttp: false }, async () => ['127.0.0.1']);
      // The certificate is not trusted, so the request fails: after the handshake, not before it.
      await expect(guardedFetch(`https://service.example.test:${securePort}/`, base, guard)).rejects.toMatchObject({
        code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
      });
      expect(names).toEqual(['service.example.test']);
    } finally {
      secure.closeAllConnections();
      await new Promise((resolve) => secure.close(resolve));
    }
  });
});
