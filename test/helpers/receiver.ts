import Fastify, { type FastifyInstance } from 'fastify';

export interface ReceivedRequest {
  path: string;
  headers: Record<string, string>;
  /** The raw body, byte for byte, as signatures cover it. */
  body: string;
  at: number;
}

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  delayMs?: number;
}

/**
 * A real HTTP server standing in for a customer's webhook endpoint. Every path records what it
 * receives; `on(path, fn)` decides how it answers (default 200 "ok"), with `fn` seeing how many
 * requests that path has had, this one included.
 */
export class Receiver {
  readonly requests: ReceivedRequest[] = [];
  private readonly handlers = new Map<string, (n: number, request: ReceivedRequest) => Reply>();
  private server: FastifyInstance | undefined;
  url = '';

  static async start(host = '127.0.0.1'): Promise<Receiver> {
    const receiver = new Receiver();
    const server = Fastify({ bodyLimit: 10 * 1024 * 1024 });
    server.removeAllContentTypeParsers();
    server.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    server.all('/*', async (req, reply) => {
      const path = req.url;
      const request: ReceivedRequest = {
        path,
        headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
        body: typeof req.body === 'string' ? req.body : '',
        at: Date.now(),
      };
      receiver.requests.push(request);
      const n = receiver.requests.filter((r) => r.path === path).length;
      const answer = receiver.handlers.get(path)?.(n, request) ?? {};
      if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
      void reply.code(answer.status ?? 200).headers(answer.headers ?? {});
      return answer.body ?? 'ok';
    });
    await server.listen({ host, port: 0 });
    const address = server.server.address();
    if (!address || typeof address === 'string') throw new Error('receiver has no port');
    receiver.server = server;
    receiver.url = `http://${host}:${address.port}`;
    return receiver;
  }

  on(path: string, handler: (n: number, request: ReceivedRequest) => Reply): void {
    this.handlers.set(path, handler);
  }

  at(path: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  async close(): Promise<void> {
    await this.server?.close();
  }
}
