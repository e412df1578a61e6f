import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Contract } from './contract.js';

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
 * The answer is buffered before it is passed on (the largest a test downloads is a few MiB), so a
 * stream's timing is not what the client would see directly.
 */
export class ValidatingProxy {
  /** Every exchange that departed from the document, with its violations. */
  readonly violations: string[] = [];
  /** How many answers were checked (documented operations only). */
  checked = 0;
  /** Every exchange that went through, in the order the answers came: what a client saw on the wire. */
  readonly exchanges: Array<{ method: string; url: string; status: number }> = [];
  private readonly agent = new http.Agent({ keepAlive: true });

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    private readonly contract: Contract,
  ) {}

  /** A proxy on a free port of 127.0.0.1 in front of `target` (e.g. `http://127.0.0.1:3000`). */
  static async start(target: string, contract: Contract = committedContract()): Promise<ValidatingProxy> {
    const upstream = new URL(target);
    // `proxy` is assigned before the server listens, so before any request reaches the handler.
    // eslint-disable-next-line prefer-const
    let proxy: ValidatingProxy;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const headers = { ...req.headers };
        for (const name of HOP_BY_HOP) delete headers[name];
        const forwarded = http.request(
          {
            host: upstream.hostname,
            port: upstream.port,
            method: req.method,
            path: req.url,
            headers,
            agent: proxy.agent,
          },
          (answer) => {
            const body: Buffer[] = [];
            answer.on('data', (chunk: Buffer) => body.push(chunk));
            answer.on('end', () => {
              const buffer = Buffer.concat(body);
              proxy.check(req.method ?? 'GET', req.url ?? '/', answer, buffer);
              const out: http.OutgoingHttpHeaders = {};
              for (const [name, value] of Object.entries(answer.headers)) {
                if (!HOP_BY_HOP.has(name) && value !== undefined) out[name] = value;
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
          // The service did not answer (stopped, killed): the client sees what it would see directly.
          res.destroy(error);
        });
        forwarded.end(Buffer.concat(chunks));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new ValidatingProxy(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, contract);
    return proxy;
  }

  private check(method: string, url: string, answer: http.IncomingMessage, buffer: Buffer): void {
    this.exchanges.push({ method, url, status: answer.statusCode ?? 0 });
    if (!this.contract.route(method, url)) return;
    this.checked += 1;
    const text = buffer.toString('utf8');
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
