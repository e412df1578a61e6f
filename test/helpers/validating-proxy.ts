import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Contract } from './contract.js';

/** Paths that are no operation of the document and may be asked for: Swagger UI and its assets, the metrics. */
const UNDOCUMENTED = /^\/(docs(-json|-yaml)?|metrics)(\/|\?|$)/;

/** Hop-by-hop headers (RFC 9110 §7.6.1): the proxy's own connections, never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);

/** The hop-by-hop headers of a message: the fixed ones and those its Connection header names. */
function hopByHop(headers: http.IncomingHttpHeaders): Set<string> {
  const names = new Set(HOP_BY_HOP);
  for (const name of String(headers.connection ?? '').split(',')) {
    if (name.trim()) names.add(name.trim().toLowerCase());
  }
  return names;
}

let committed: Contract | undefined;
/** The committed document (test/openapi.e2e.spec.ts fails when it drifts from the code). */
function committedContract(): Contract {
  return (committed ??= new Contract(JSON.parse(readFileSync(path.resolve('docs/openapi.json'), 'utf8'))));
}

/**
 * A validating proxy in front of a running service, as Prism's proxy mode is: every request is
 * forwarded as it came (Host included, so the service sees the address the client used), every
 * answer is passed back unchanged, and each answer is checked against `docs/openapi.json` on the
 * way (status documented, content type documented, JSON body valid against its schema, required
 * headers present). Tests that talk to a real process over HTTP (a browser, the guide's programs,
 * the docs samples, several instances) point their clients at `url` and end with
 * `expectConforming()`.
 *
 * A request that reaches no operation of the document (besides Swagger UI and /metrics) is a
 * violation too. The request and the answer are buffered before they are passed on (the largest a
 * test sends or downloads is a few MiB): a streamed upload reaches the service with a
 * Content-Length, and a stream's timing is not what the client would see directly.
 */
export class ValidatingProxy {
  /** Every exchange that departed from the document, with its violations. */
  readonly violations: string[] = [];
  /** How many answers were checked (documented operations only). */
  checked = 0;
  /** Every exchange that went through, in the order the answers came: what a client saw on the wire. */
  readonly exchanges: Array<{ method: string; url: string; status: number }> = [];
  private readonly agent = new http.Agent({ keepAlive: true });

  private readonly server = http.createServer((req, res) => this.forward(req, res));
  private address = '';

  private constructor(
    private readonly upstream: URL,
    private readonly contract: Contract,
  ) {}

  /** A proxy on a free port of 127.0.0.1 in front of `target` (e.g. `http://127.0.0.1:3000`). */
  static async start(target: string, contract: Contract = committedContract()): Promise<ValidatingProxy> {
    const proxy = new ValidatingProxy(new URL(target), contract);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    proxy.address = `http://127.0.0.1:${(proxy.server.address() as AddressInfo).port}`;
    return proxy;
  }

  /** Where clients send their requests. */
  get url(): string {
    return this.address;
  }

  /** Passes one request on and its answer back, checking the answer on the way. */
  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers = { ...req.headers };
      for (const name of hopByHop(req.headers)) delete headers[name];
      const payload = Buffer.concat(chunks);
      const send = (retried: boolean): void => {
        const forwarded = http.request(
          {
            host: this.upstream.hostname,
            port: this.upstream.port,
            method: req.method,
            path: req.url,
            headers,
            agent: this.agent,
          },
          (answer) => {
            const body: Buffer[] = [];
            answer.on('data', (chunk: Buffer) => body.push(chunk));
            answer.on('end', () => {
              const buffer = Buffer.concat(body);
              try {
                this.check(req.method ?? 'GET', req.url ?? '/', answer, buffer);
              } catch (error) {
                this.violations.push(`${req.method} ${req.url}: the check failed: ${(error as Error).message}`);
              }
              const out: http.OutgoingHttpHeaders = {};
              const drop = hopByHop(answer.headers);
              for (const [name, value] of Object.entries(answer.headers)) {
                if (!drop.has(name) && value !== undefined) out[name] = value;
              }
              // The service asks clients to go away while it drains: pass that on.
              if (answer.headers.connection === 'close') out.connection = 'close';
              res.writeHead(answer.statusCode ?? 502, out);
              res.end(buffer);
            });
            answer.on('error', (error) => res.destroy(error));
          },
        );
        forwarded.on('error', (error) => {
          // A kept-alive connection the service closed just as it was reused: once more on a new
          // one, as HTTP clients do for a request that never reached the server.
          if (forwarded.reusedSocket && !retried && (error as NodeJS.ErrnoException).code === 'ECONNRESET') {
            send(true);
            return;
          }
          // The service did not answer (stopped, killed): the client's connection is reset.
          res.destroy(error);
        });
        forwarded.end(payload);
      };
      send(false);
    });
  }

  private check(method: string, url: string, answer: http.IncomingMessage, buffer: Buffer): void {
    this.exchanges.push({ method, url, status: answer.statusCode ?? 0 });
    // A HEAD is its GET without the body (the router answers it so).
    const operation = method === 'HEAD' ? 'GET' : method;
    if (!this.contract.route(operation, url)) {
      if (!UNDOCUMENTED.test(url))
        this.violations.push(`${method} ${url} → ${answer.statusCode}: no operation of the document`);
      return;
    }
    this.checked += 1;
    // Checked as the client reads it, after its Content-Encoding.
    const decoded = answer.headers['content-encoding'] === 'gzip' ? gunzipSync(buffer) : buffer;
    const text = method === 'HEAD' ? '' : decoded.toString('utf8');
    const type = String(answer.headers['content-type'] ?? '');
    let body: unknown;
    if (/^application\/([\w.-]+\+)?json\b/.test(type) && text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
    }
    const problems = this.contract.violations(method, url, {
      status: answer.statusCode ?? 0,
      headers: answer.headers as Record<string, unknown>,
      text,
      body,
    });
    for (const problem of problems) this.violations.push(problem);
  }

  /** Throws, naming every violation, when any answer departed from the document. */
  expectConforming(): void {
    if (this.violations.length > 0) {
      throw new Error(
        `${this.violations.length} of ${this.checked} answers through the validating proxy violate docs/openapi.json:\n- ` +
          this.violations.join('\n- '),
      );
    }
  }

  async close(): Promise<void> {
    this.agent.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
