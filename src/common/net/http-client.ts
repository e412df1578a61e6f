import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

export interface HttpRequestOptions {
  method: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Aborting destroys the request; the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Bytes of response body kept; the rest is not read and `truncated` is set. */
  maxResponseBytes: number;
  /**
   * Connect to this IP instead of resolving the URL's host again; Host header and TLS SNI still
   * name the URL's host. This is what makes an SSRF check hold against DNS rebinding.
   */
  connectTo?: string;
}

export interface HttpResponseData {
  status: number;
  /** Lower-case names; repeated headers are joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  truncated: boolean;
}

/** The request did not complete within its time limit. */
export class HttpTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`No complete response within ${timeoutMs} ms`);
    this.name = 'HttpTimeoutError';
  }
}

/**
 * Runs `task` with a signal that aborts after `timeoutMs` or when `parent` aborts. A parent abort
 * rethrows the parent's reason unchanged (the caller knows why: cancel, shutdown, job timeout);
 * our own time limit becomes an HttpTimeoutError.
 */
export async function withDeadline<T>(
  timeoutMs: number,
  parent: AbortSignal | undefined,
  task: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  parent?.throwIfAborted();
  const controller = new AbortController();
  const timeout = new HttpTimeoutError(timeoutMs);
  const timer = setTimeout(() => controller.abort(timeout), timeoutMs);
  const onParentAbort = (): void => controller.abort(parent?.reason);
  parent?.addEventListener('abort', onParentAbort, { once: true });
  try {
    return await task(controller.signal);
  } catch (error) {
    if (parent?.aborted) throw parent.reason;
    if (controller.signal.reason === timeout) throw timeout;
    throw error;
  } finally {
    clearTimeout(timer);
    parent?.removeEventListener('abort', onParentAbort);
  }
}

function pinnedLookup(address: string): LookupFunction {
  const family = ipaddr.parse(address).kind() === 'ipv4' ? 4 : 6;
  // net calls lookup with `all: true` when autoSelectFamily is on (the default since Node 20).
  return (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
}

function sameAddress(a: string | undefined, b: string): boolean {
  return a !== undefined && ipaddr.isValid(a) && ipaddr.process(a).toString() === ipaddr.process(b).toString();
}

function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/**
 * One HTTP(S) request with node:http: no redirects followed, no connection reuse (a pooled socket
 * would outlive the address check), response body capped at `maxResponseBytes`.
 */
export function sendHttpRequest(url: URL, options: HttpRequestOptions): Promise<HttpResponseData> {
  const { signal, connectTo, maxResponseBytes } = options;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return Promise.reject(new Error(`Unsupported protocol ${url.protocol}`));
  }
  if (signal?.aborted) return Promise.reject(signal.reason);
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const headers: Record<string, string> = { ...options.headers };
  if (body) headers['content-length'] = String(body.length);

  return new Promise<HttpResponseData>((resolve, reject) => {
    let settled = false;
    const settle = (finish: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      finish();
    };
    const fail = (error: unknown): void =>
      settle(() => {
        req.destroy();
        reject(error);
      });
    const onAbort = (): void => fail(signal?.reason);

    const req = (url.protocol === 'https:' ? https : http).request({
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      method: options.method,
      headers,
      agent: false,
      lookup: connectTo ? pinnedLookup(connectTo) : undefined,
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', fail);
    if (connectTo) {
      // Belt and braces: whatever the socket layer did, talk only to the vetted address.
      req.on('socket', (socket) =>
        socket.once('connect', () => {
          if (!sameAddress(socket.remoteAddress, connectTo)) {
            fail(new Error(`Connected to ${socket.remoteAddress ?? 'unknown'}, expected ${connectTo}`));
          }
        }),
      );
    }
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = (truncated: boolean): void =>
        settle(() => {
          if (truncated) res.destroy();
          resolve({
            status: res.statusCode ?? 0,
            headers: flattenHeaders(res.headers),
            body: Buffer.concat(chunks, size),
            truncated,
          });
        });
      res.on('data', (chunk: Buffer) => {
        const room = maxResponseBytes - size;
        if (chunk.length > room) {
          chunks.push(chunk.subarray(0, room));
          size += room;
          done(true);
          return;
        }
        chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', () => done(false));
      res.on('error', fail);
      res.on('close', () => fail(new Error('Connection closed before the response was complete')));
    });
    req.end(body);
  });
}
