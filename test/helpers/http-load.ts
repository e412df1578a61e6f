import { Readable } from 'node:stream';
import { Client, Pool } from 'undici';

/** One request a client sent, and what came back. */
export interface Sent {
  what: string;
  expected: number;
  sentAt: number;
  doneAt?: number;
  status?: number;
  /** The response's Connection header. */
  connection?: string;
  error?: string;
}

/** The requests that got no answer, or not the one expected. */
export const failed = (sent: Sent[]): Sent[] => sent.filter((s) => s.error !== undefined || s.status !== s.expected);

function errorCode(error: unknown): string {
  return String((error as Error & { code?: string }).code ?? error);
}

/**
 * HTTP load on a Conveyor instance: `clients` keep-alive clients, each in a loop: POST /jobs (a
 * sleep of 200-400 ms), GET /jobs/{id}, GET /me. Every request is recorded with its answer.
 */
export class Load {
  readonly sent: Sent[] = [];
  /** Jobs a client got 201 for. */
  readonly jobIds: string[] = [];
  private stopped = false;
  private readonly pool: Pool;
  private readonly headers: Record<string, string>;
  readonly done: Promise<void[]>;

  constructor(
    private readonly origin: string,
    key: string,
    clients: number,
  ) {
    this.pool = new Pool(origin, { connections: clients });
    this.headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    this.done = Promise.all([...Array(clients).keys()].map((n) => this.client(n)));
  }

  /** The balancer's rule says stop: no new request from now on. */
  stop(): void {
    this.stopped = true;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  private async client(n: number): Promise<void> {
    for (let i = 0; !this.stopped; i += 1) {
      const input = { ms: 200 + ((n * 37 + i * 53) % 200) };
      const job = await this.send('POST /jobs', 201, 'POST', '/api/v1/jobs', { type: 'sleep', input });
      if (job?.id) {
        this.jobIds.push(job.id);
        await this.send('GET /jobs/{id}', 200, 'GET', `/api/v1/jobs/${job.id}`);
      }
      await this.send('GET /me', 200, 'GET', '/api/v1/me');
    }
  }

  private async send(what: string, expected: number, method: 'GET' | 'POST', path: string, body?: unknown) {
    if (this.stopped) return undefined;
    const entry: Sent = { what, expected, sentAt: performance.now() };
    this.sent.push(entry);
    try {
      const res = await this.pool.request({
        method,
        path,
        headers: this.headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = (await res.body.json()) as { id?: string };
      entry.status = res.statusCode;
      entry.connection = String(res.headers.connection);
      return json;
    } catch (error) {
      entry.error = errorCode(error);
      return undefined;
    } finally {
      entry.doneAt = performance.now();
    }
  }

  /**
   * A POST /jobs whose body arrives slowly, its end only once `finishAt` resolves: a request in
   * flight while HTTP closes. A request goes first on the same connection, which the client keeps
   * open afterwards, as a pooling client would: that is the kept-alive connection the close must
   * not wait for.
   */
  async slowPost(id: string, finishAt: Promise<unknown>): Promise<{ entry: Sent; client: Client }> {
    const client = new Client(this.origin);
    await (await client.request({ method: 'GET', path: '/api/v1/health/live' })).body.dump();
    const text = JSON.stringify({ type: 'sleep', input: { ms: 100 } });
    async function* body(): AsyncGenerator<string> {
      yield text.slice(0, 10);
      await finishAt;
      yield text.slice(10);
    }
    const entry: Sent = { what: `slow POST /jobs (${id})`, expected: 201, sentAt: performance.now() };
    this.sent.push(entry);
    try {
      const res = await client.request({
        method: 'POST',
        path: '/api/v1/jobs',
        headers: { ...this.headers, 'content-length': String(Buffer.byteLength(text)), 'x-request-id': id },
        body: Readable.from(body()),
      });
      entry.status = res.statusCode;
      const job = (await res.body.json()) as { id?: string };
      if (job.id) this.jobIds.push(job.id);
    } catch (error) {
      entry.error = errorCode(error);
    } finally {
      entry.doneAt = performance.now();
    }
    return { entry, client };
  }
}

/**
 * GET /health/ready every `intervalMs`, whether or not the previous probe was answered (one
 * waiting for a database connection under load must not delay the next), on connections of its own.
 */
export class Prober {
  readonly probes: Array<{ sentAt: number; at: number; status: number | string }> = [];
  private readonly pool: Pool;
  private readonly inFlight: Array<Promise<void>> = [];
  private readonly timer: NodeJS.Timeout;

  constructor(origin: string, intervalMs: number) {
    this.pool = new Pool(origin, { connections: 16 });
    this.timer = setInterval(() => this.inFlight.push(this.probe()), intervalMs);
  }

  /** The earliest answered 503. */
  first503(): { sentAt: number; at: number } | undefined {
    return this.probes.filter((p) => p.status === 503).sort((a, b) => a.at - b.at)[0];
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.inFlight);
    await this.pool.close();
  }

  private async probe(): Promise<void> {
    const sentAt = performance.now();
    try {
      const res = await this.pool.request({ method: 'GET', path: '/api/v1/health/ready' });
      await res.body.dump();
      this.probes.push({ sentAt, at: performance.now(), status: res.statusCode });
    } catch (error) {
      this.probes.push({ sentAt, at: performance.now(), status: errorCode(error) });
    }
  }
}
