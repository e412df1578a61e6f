import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';
import { ValidatingProxy } from './helpers/validating-proxy.js';
import { waitFor } from './helpers/wait.js';

const ROWS = 20_000; // × ~2 KB of output: ~40 MB of JSON Lines, far more than the sockets can buffer

/**
 * Issue 10 #1: result downloads whose clients stop reading must not starve the API or the worker.
 * Before: each download held a connection of the one pool until its client read it all, so a few
 * paused downloads took the pool, and every other request answered 500 after 5 s.
 */
describe('stalled result downloads', () => {
  let t: TestApp;
  let port: number;
  let a: TestUser;
  let b: TestUser;
  let c: TestUser;
  let batchA: string;
  let batchB: string;
  const sockets: net.Socket[] = [];
  /** The full requests go through it (checked by the last test); the stalled ones hold a raw socket. */
  let proxy: ValidatingProxy;

  /** A completed batch of `rows` items with ~2 KB outputs, written by SQL (a worker would take minutes). */
  async function bigBatch(user: TestUser, rows: number): Promise<string> {
    const { rows: batch } = await t.db.pool.query<{ id: string }>(
      `INSERT INTO batches (user_id, total, status, completed_at) VALUES ($1, $2, 'completed', now()) RETURNING id`,
      [user.id, rows],
    );
    await t.db.pool.query(
      `INSERT INTO jobs (user_id, batch_id, type, input, status, attempts, batch_item, started_at, finished_at)
       SELECT $1, $2, 'echo', '{}', 'completed', 1, n, now(), now() FROM generate_series(0, $3 - 1) n`,
      [user.id, batch[0].id, rows],
    );
    await t.db.pool.query(
      `INSERT INTO results (job_id, output)
       SELECT id, jsonb_build_object('n', batch_item, 'pad', repeat(md5(batch_item::text), 64)) FROM jobs WHERE batch_id = $1`,
      [batch[0].id],
    );
    return batch[0].id;
  }

  /** Starts a download on a raw socket, reads its status line, then stops reading (as a paused client does). */
  function stalledDownload(user: TestUser, batchId: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      sockets.push(socket);
      socket.once('error', reject);
      socket.once('data', (chunk: Buffer) => {
        socket.pause();
        resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(chunk.toString('latin1'))?.[1]));
      });
      socket.write(
        `GET /api/v1/batches/${batchId}/results HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${user.key}\r\n\r\n`,
      );
    });
  }

  const get = (user: TestUser, path: string) =>
    fetch(`${proxy.url}/api/v1${path}`, {
      headers: { authorization: `Bearer ${user.key}` },
      signal: AbortSignal.timeout(15_000),
    });

  beforeAll(async () => {
    t = await startTestApp({
      DB_POOL_SIZE: '3',
      DB_STREAM_POOL_SIZE: '2',
      DOWNLOADS_MAX_PER_USER: '2',
      // Longer than the 2 s a download waits for a stream connection, so the 503 comes first.
      DOWNLOAD_STALL_TIMEOUT_MS: '4000',
      WORKER_POLL_INTERVAL_MS: '100',
      WORKER_CONCURRENCY: '2',
    });
    await t.app.listen(0, '127.0.0.1');
    port = (t.app.getHttpServer().address() as net.AddressInfo).port;
    proxy = await ValidatingProxy.start(`http://127.0.0.1:${port}`);
    [a, b, c] = await Promise.all([
      createUser(t.db, { tier: 'pro' }),
      createUser(t.db, { tier: 'pro' }),
      createUser(t.db, { tier: 'pro' }),
    ]);
    [batchA, batchB] = await Promise.all([bigBatch(a, ROWS), bigBatch(b, 100)]);
  }, 120_000);

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await proxy?.close();
    await t?.close();
  });

  it('caps a user’s open downloads, answers 503 when the stream pool is busy, and keeps the API and worker serving', async () => {
    expect(await stalledDownload(a, batchA)).toBe(200);
    expect(await stalledDownload(a, batchA)).toBe(200);

    // A third download of the same user: 429 with Retry-After, at once.
    const third = await get(a, `/batches/${batchA}/results`);
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('5');
    expect(((await third.json()) as { code: string }).code).toBe('RATE_LIMITED');

    // Both stream connections are held by the paused downloads: another user's download waits 2 s
    // for one, then is told to come back, instead of queueing behind them forever.
    const busy = await get(b, `/batches/${batchB}/results`);
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('5');

    // Meanwhile the API (a fresh key: its principal is not cached, so auth needs the database) and
    // the worker keep their pool: before, these answered 500 after 5 s and the worker could not claim.
    const me = await get(c, '/me');
    expect(me.status).toBe(200);
    const created = await fetch(`${proxy.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'echo', input: { ok: true } }),
    });
    expect(created.status).toBe(201);
    const jobId = ((await created.json()) as { id: string }).id;
    await waitFor(
      'the job to complete while downloads are stalled',
      async () => ((await (await get(c, `/jobs/${jobId}`)).json()) as { status: string }).status,
      (s) => s === 'completed',
    );

    const streaming = await t.db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'conveyor-all-stream'`,
    );
    expect(streaming.rows[0].n).toBeLessThanOrEqual(2);
  });

  it('cuts off the clients that stopped reading, which frees their connections and slots', async () => {
    await waitFor(
      'the stalled downloads to be cut off',
      () => t.logs.filter((l) => l.msg === 'download cut off: the client stopped reading').length,
      (n) => n === 2,
      { timeout: 15_000 },
    );
    // The slots and connections are back: full downloads for both users now succeed.
    const small = await get(b, `/batches/${batchB}/results`);
    expect(small.status).toBe(200);
    expect((await small.text()).trim().split('\n')).toHaveLength(100);
    const again = await get(a, `/batches/${batchA}/results?status=completed`);
    expect(again.status).toBe(200);
    const lines = (await again.text()).trim().split('\n');
    expect(lines).toHaveLength(ROWS);
    expect(JSON.parse(lines[ROWS - 1])).toMatchObject({ status: 'completed', output: { n: ROWS - 1 } });
  });

  it('every answer (200, 429, 503, JSON Lines) conforms to docs/openapi.json (validating proxy)', () => {
    expect(proxy.checked).toBeGreaterThanOrEqual(6);
    proxy.expectConforming();
  });
});
