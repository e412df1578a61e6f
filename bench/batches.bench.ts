import 'reflect-metadata';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import QueryStream from 'pg-query-stream';
import { runMigrations } from '../src/database/migrator.js';
import { COMMIT } from '../src/database/db.sql.js';
import { BATCH_RESULTS } from '../src/modules/batches/batches.sql.js';
import { FINISH_BATCHES, INSERT_BATCH_JOBS } from '../src/modules/queue/queue.sql.js';
import { hashJobType } from '../src/modules/job-types/builtin/hash.job-type.js';
import { benchDatabase, freePort, siblingDatabase, type BenchDatabase } from './lib/database.js';
import { emitResult, isSmoke, runBench } from './lib/protocol.js';
import { collectGarbage, GC_NODE_ARGS, restingKiB, watchRss } from './lib/rss.js';
import { seedUsers } from './lib/seed.js';
import { startService, type ServiceProcess } from './lib/service.js';
import { round } from './lib/stats.js';

/**
 * Batches at the tier maximum: one 100,000-item NDJSON upload (2,000 in smoke mode) through
 * POST /api/v1/batches on the built service (ROLE=api, so nothing drains the jobs), against a raw
 * COPY of the same rows into the jobs table of a fresh database on the same server; then the
 * download of that batch's results as JSON Lines, with the service's resident memory sampled
 * throughout, against the same SELECT read by a bare cursor and by COPY TO in this process.
 */
const SMOKE = isSmoke();
const ITEMS = SMOKE ? 2_000 : 100_000;
/** Unmeasured, before each measured phase: JIT, connection pool and principal cache. */
const WARMUP_ITEMS = SMOKE ? 200 : 1_000;
/** Measured downloads of each kind, interleaved; the median is reported. */
const DOWNLOADS = SMOKE ? 1 : 3;
const SAMPLE_MS = 20;
/** How the upload is written to the socket, and the COPY data to PostgreSQL. */
const CHUNK_BYTES = 64 * 1024;
/** BatchesRepository.streamResults, word for word (it is not exported), and its cursor batch size. */
const RESULTS_SQL = BATCH_RESULTS.text;
const CURSOR_BATCH = 500;
const COPY_COLUMNS = 'user_id, batch_id, type, input, metadata, max_attempts, cost, custom_id, batch_item';
/** Same rows on both sides: what the service stored must hash to what COPY stored. */
const DIGEST_SQL = `SELECT count(*)::int AS n,
    md5(string_agg(concat_ws(' ', batch_item, custom_id, type, input::text, metadata::text, max_attempts, cost,
                             status), E'\\n' ORDER BY batch_item)) AS digest
  FROM jobs WHERE batch_id = $1`;
const MiB = 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function progress(message: string): void {
  process.stdout.write(`[batches] ${message}\n`);
}

const WORDS = [
  'order',
  'invoice',
  'shipment',
  'customer',
  'Zürich',
  'São Paulo',
  '東京',
  '"express"',
  'qty',
  'total',
  'EUR',
  'refund',
  'pending',
  'warehouse',
  'pallet',
  'café',
  'naïve',
  'tracking',
  'delivered',
  'returned',
  '#A-17',
  '50%',
  'fragile',
  'gift wrap',
  'back-order',
  'C:\\exports',
  'line-item',
  'VAT',
  'SKU-4411',
  'Montréal',
];

/** 40–240 characters of order-log prose, the same for the same `i`; some quotes, a backslash, non-ASCII. */
function itemText(i: number): string {
  let x = Math.imul(i + 1, 0x9e3779b1) >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
  const target = 40 + (next() % 201);
  let text = `Order ${i}:`;
  while (text.length < target) text += ` ${WORDS[next() % WORDS.length]}`;
  return text;
}

const item = (prefix: string, i: number) => ({
  customId: `${prefix}-${i}`,
  type: 'hash',
  input: { text: itemText(i), algorithm: 'sha256' },
});

function ndjson(prefix: string, count: number): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < count; i += 1) lines.push(JSON.stringify(item(prefix, i)));
  return Buffer.from(`${lines.join('\n')}\n`);
}

/** COPY's text format: tab-separated columns, backslash escapes. */
const copyEscape = (value: string): string =>
  value.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c] ?? c);

/** The rows the service writes for `item('row', i)`, in COPY text format, in COPY_COLUMNS order. */
function copyRows(userId: string, batchId: string, count: number): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const { customId, type, input } = item('row', i);
    const values = [userId, batchId, type, copyEscape(JSON.stringify(input)), '{}'];
    values.push(String(hashJobType.maxAttempts), String(hashJobType.cost), copyEscape(customId), String(i));
    lines.push(values.join('\t'));
  }
  return Buffer.from(`${lines.join('\n')}\n`);
}

function* chunksOf(buffer: Buffer): Generator<Buffer> {
  for (let offset = 0; offset < buffer.length; offset += CHUNK_BYTES)
    yield buffer.subarray(offset, offset + CHUNK_BYTES);
}

interface Reply {
  status: number;
  body: Buffer;
  /** From the first byte written to the response headers. */
  headersMs: number;
  /** From the first byte written to the last byte of the response. */
  endMs: number;
}

/**
 * One request on a connection of its own. A body is written in CHUNK_BYTES pieces as the socket
 * drains, the way a streaming client sends a large file; the clock starts as the first is written.
 */
function send(url: string, method: 'GET' | 'POST', headers: Record<string, string>, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, {
      method,
      agent: false,
      headers: body ? { ...headers, 'content-length': String(body.length) } : headers,
    });
    let started = 0;
    let responded = false;
    let wake: (() => void) | undefined;
    request.once('error', reject);
    request.on('drain', () => wake?.());
    request.once('close', () => wake?.());
    request.once('response', (response) => {
      responded = true;
      wake?.();
      const headersMs = performance.now() - started;
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('error', reject);
      response.once('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          body: Buffer.concat(chunks),
          headersMs,
          endMs: performance.now() - started,
        }),
      );
    });
    started = performance.now();
    void (async () => {
      // A server that answers early (413, 422) stops the upload.
      for (const chunk of body ? chunksOf(body) : []) {
        if (responded) break;
        if (!request.write(chunk)) await new Promise<void>((r) => (wake = r));
      }
      request.end();
    })();
  });
}

async function upload(base: string, key: string, body: Buffer, count: number): Promise<{ id: string; ms: number }> {
  const reply = await send(
    `${base}/batches`,
    'POST',
    { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' },
    body,
  );
  const batch = JSON.parse(reply.body.toString()) as { id?: string; status?: string; counts?: { total?: number } };
  if (reply.status !== 201 || batch.counts?.total !== count || batch.status !== 'in_progress' || !batch.id) {
    throw new Error(`POST /batches (${count} items) → ${reply.status}: ${reply.body.toString().slice(0, 500)}`);
  }
  return { id: batch.id, ms: reply.headersMs };
}

async function download(base: string, key: string, id: string, count: number): Promise<{ body: Buffer; ms: number }> {
  const reply = await send(`${base}/batches/${id}/results`, 'GET', { authorization: `Bearer ${key}` });
  const lines = reply.body.length ? reply.body.toString().split('\n').length - 1 : 0;
  if (reply.status !== 200 || lines !== count) {
    throw new Error(
      `GET results → ${reply.status}, ${lines} lines for ${count}: ${reply.body.toString().slice(0, 300)}`,
    );
  }
  return { body: reply.body, ms: reply.endMs };
}

/** Every line a JSON object with a jobId, in upload order, with the digest the worker would have written. */
function checkDownload(body: Buffer, count: number): void {
  const lines = body.toString('utf8').split('\n');
  if (lines.pop() !== '' || lines.length !== count) throw new Error(`download: ${lines.length} lines for ${count}`);
  for (const [i, line] of lines.entries()) {
    const row = JSON.parse(line) as {
      customId?: unknown;
      jobId?: unknown;
      status?: unknown;
      output?: { algorithm?: unknown; hex?: unknown };
    };
    const hex = createHash('sha256').update(itemText(i), 'utf8').digest('hex');
    const ok =
      typeof row === 'object' &&
      row !== null &&
      typeof row.jobId === 'string' &&
      UUID.test(row.jobId) &&
      row.customId === `row-${i}` &&
      row.status === 'completed' &&
      row.output?.algorithm === 'sha256' &&
      row.output.hex === hex;
    if (!ok) throw new Error(`download line ${i + 1} is wrong: ${line.slice(0, 300)}`);
  }
}

/** Best effort: a checkpoint before a timed write, so it does not pay for the previous one's dirty pages. */
async function checkpoint(client: pg.Client): Promise<void> {
  await client.query('CHECKPOINT').catch(() => undefined);
}

/** Collects a byte stream into one Buffer. */
function collector(into: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      into.push(chunk);
      done();
    },
  });
}

/**
 * The ceiling of the download's code path without HTTP: the repository's own SELECT through
 * pg-query-stream with the same batch size, each row turned into the line the service writes.
 */
async function bareCursor(url: string, batchId: string): Promise<{ body: Buffer; ms: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const chunks: Buffer[] = [];
    const started = performance.now();
    const rows = client.query(new QueryStream(RESULTS_SQL, [batchId, null], { batchSize: CURSOR_BATCH }));
    const lines = new Transform({
      writableObjectMode: true,
      transform(row: { custom_id: string | null; id: string; status: string; output: unknown }, _encoding, done) {
        const line = { customId: row.custom_id, jobId: row.id, status: row.status, output: row.output ?? null };
        done(null, `${JSON.stringify(line)}\n`);
      },
    });
    await pipeline(rows, lines, collector(chunks));
    return { body: Buffer.concat(chunks), ms: performance.now() - started };
  } finally {
    await client.end();
  }
}

/** The database's own ceiling: the same join and order, each row serialised to JSON by PostgreSQL, one COPY. */
async function copyOut(url: string, batchId: string): Promise<{ rows: number; bytes: number; ms: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const chunks: Buffer[] = [];
    const started = performance.now();
    const stream = client.query(
      copyTo(
        `COPY (SELECT json_build_object('customId', j.custom_id, 'jobId', j.id, 'status', j.status, 'output', r.output)
                 FROM jobs j LEFT JOIN results r ON r.job_id = j.id
                WHERE j.batch_id = ${client.escapeLiteral(batchId)} ORDER BY j.batch_item) TO STDOUT`,
      ),
    );
    await pipeline(stream, collector(chunks));
    const ms = performance.now() - started;
    const body = Buffer.concat(chunks);
    let rows = 0;
    for (let at = body.indexOf(10); at !== -1; at = body.indexOf(10, at + 1)) rows += 1;
    return { rows, bytes: body.length, ms };
  } finally {
    await client.end();
  }
}

/**
 * The statements the service logged as slow (DB_SLOW_QUERY_MS=1: every one over 1 ms) that
 * started after `since` (epoch ms): the batch's chunked INSERTs, its COMMIT, and the rest.
 */
function statementTimes(
  output: string,
  since: number,
): { inserts: number; insertMs: number; commitMs: number; otherMs: number } {
  const times = { inserts: 0, insertMs: 0, commitMs: 0, otherMs: 0 };
  for (const line of output.split('\n')) {
    if (!line.includes('"slow query"')) continue;
    const entry = JSON.parse(line) as { time: string; durationMs: number; statement: string };
    if (Date.parse(entry.time) - entry.durationMs < since) continue;
    if (entry.statement === INSERT_BATCH_JOBS.name) {
      times.inserts += 1;
      times.insertMs += entry.durationMs;
    } else if (entry.statement === COMMIT.name) times.commitMs += entry.durationMs;
    else times.otherMs += entry.durationMs;
  }
  return times;
}

interface Memory {
  /** V8 heap in use right after a forced full GC, before the request (bytes). */
  heapBefore: number;
  /** Resting VmRSS after that GC, just before the request. */
  rssBeforeKiB: number;
  /** The larger of the VmRSS samples during the request and VmHWM (reset at its start) after it. */
  peakKiB: number;
  growthKiB: number;
  samples: number;
  /** Whether VmHWM could be reset, so the peak is exact rather than sampled. */
  exactPeak: boolean;
}

/**
 * Runs one request against the service with its memory watched: a forced full GC and the resting
 * RSS first, so the baseline carries no garbage of earlier requests, then VmRSS every SAMPLE_MS.
 */
async function watched<T>(service: ServiceProcess, request: () => Promise<T>): Promise<{ value: T; memory: Memory }> {
  const heapBefore = await collectGarbage(service);
  const rssBeforeKiB = await restingKiB(service.pid);
  const watch = watchRss(service.pid, SAMPLE_MS);
  let figures: ReturnType<typeof watch.stop> | undefined;
  try {
    const value = await request();
    figures = watch.stop();
    const peakKiB = Math.max(figures.peakKiB, figures.hwmKiB ?? 0);
    const memory = {
      heapBefore,
      rssBeforeKiB,
      peakKiB,
      growthKiB: peakKiB - rssBeforeKiB,
      samples: figures.samples,
      exactPeak: figures.hwmKiB !== undefined,
    };
    return { value, memory };
  } finally {
    if (!figures) watch.stop();
  }
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const mib = (kib: number): number => round(kib / 1024, 1);

async function main(): Promise<void> {
  const db = await benchDatabase();
  const client = new pg.Client({ connectionString: db.url });
  // Dropping the database on a signal ends this connection: not a crash.
  client.on('error', () => undefined);
  let service: ServiceProcess | undefined;
  let copyDb: BenchDatabase | undefined;
  let copyClient: pg.Client | undefined;
  try {
    progress(`database: ${db.source}`);
    await runMigrations(db.url);
    await client.connect();
    const [user] = await seedUsers(client, 1);
    await client.query(`UPDATE users SET tier = 'enterprise' WHERE id = $1`, [user.id]);
    const env = { DATABASE_URL: db.url, ROLE: 'api', LOG_LEVEL: 'warn' };
    let port = await freePort();
    // Every statement over 1 ms is logged with its duration: where the upload's time goes.
    service = await startService({ ...env, DB_SLOW_QUERY_MS: '1' }, port, GC_NODE_ARGS);
    let base = `http://127.0.0.1:${port}/api/v1`;
    progress(`service ${service.pid} ready (ROLE=api); user tier enterprise`);

    // 1. The upload.
    const warm = await upload(base, user.key, ndjson('warm', WARMUP_ITEMS), WARMUP_ITEMS);
    const body = ndjson('row', ITEMS);
    await checkpoint(client);
    const uploadStartedAt = Date.now();
    const { value: uploaded, memory: uploadMemory } = await watched(service, () => upload(base, user.key, body, ITEMS));
    const sql = statementTimes(service.output(), uploadStartedAt);
    const uploadRetained = (await collectGarbage(service)) - uploadMemory.heapBefore;
    const uploadRate = ITEMS / (uploaded.ms / 1000);
    progress(
      `upload: ${ITEMS} items (${(body.length / MiB).toFixed(1)} MiB NDJSON) in ${Math.round(uploaded.ms)} ms = ` +
        `${Math.round(uploadRate)} items/s; RSS ${mib(uploadMemory.rssBeforeKiB)} → ${mib(uploadMemory.peakKiB)} ` +
        `MiB, heap kept after GC ${mib(uploadRetained / 1024)} MiB; SQL: ${sql.inserts} INSERTs ${sql.insertMs} ms, ` +
        `COMMIT ${sql.commitMs} ms, other ${sql.otherMs} ms`,
    );
    const { rows: stored } = await client.query<{ n: number; digest: string }>(DIGEST_SQL, [uploaded.id]);
    const { rows: usage } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM usage_records u JOIN jobs j ON j.id = u.job_id WHERE j.batch_id = $1`,
      [uploaded.id],
    );
    if (stored[0].n !== ITEMS || usage[0].n !== ITEMS) {
      throw new Error(`upload stored ${stored[0].n} jobs and ${usage[0].n} usage records for ${ITEMS} items`);
    }

    // The ceiling: the same rows, COPYed into the jobs table of a fresh database on the same server.
    copyDb = await siblingDatabase(db);
    await runMigrations(copyDb.url);
    copyClient = new pg.Client({ connectionString: copyDb.url });
    copyClient.on('error', () => undefined);
    await copyClient.connect();
    const [copyUser] = await seedUsers(copyClient, 1);
    const { rows: copyBatch } = await copyClient.query<{ id: string }>(
      `INSERT INTO batches (user_id, total) VALUES ($1, $2) RETURNING id`,
      [copyUser.id, ITEMS],
    );
    const copyData = copyRows(copyUser.id, copyBatch[0].id, ITEMS);
    await checkpoint(copyClient);
    const copyStarted = performance.now();
    const copyStream = copyClient.query(copyFrom(`COPY jobs (${COPY_COLUMNS}) FROM STDIN`));
    await pipeline(Readable.from(chunksOf(copyData)), copyStream);
    const copyMs = performance.now() - copyStarted;
    const copyRate = ITEMS / (copyMs / 1000);
    progress(`COPY FROM: ${copyStream.rowCount} rows in ${Math.round(copyMs)} ms = ${Math.round(copyRate)} rows/s`);
    const { rows: copied } = await copyClient.query<{ n: number; digest: string }>(DIGEST_SQL, [copyBatch[0].id]);
    if (copied[0].n !== ITEMS || copied[0].digest !== stored[0].digest) {
      throw new Error(
        `COPY stored ${copied[0].n} rows, digest ${copied[0].digest} ≠ the service's ${stored[0].digest}`,
      );
    }
    await copyClient.end();
    copyClient = undefined;
    await copyDb.dispose();
    copyDb = undefined;

    // 2. The download. Results are filled in by SQL, as a worker's complete() would leave them.
    const batchIds = [warm.id, uploaded.id];
    const filled = performance.now();
    await client.query(
      `INSERT INTO results (job_id, output)
       SELECT id, jsonb_build_object('algorithm', input->>'algorithm',
                                     'hex', encode(sha256(convert_to(input->>'text', 'UTF8')), 'hex'))
         FROM jobs WHERE batch_id = ANY($1::uuid[])`,
      [batchIds],
    );
    await client.query(
      `UPDATE jobs SET status = 'completed', attempts = 1, started_at = now(), finished_at = now(), updated_at = now()
        WHERE batch_id = ANY($1::uuid[])`,
      [batchIds],
    );
    const { rows: finished } = await client.query<{ status: string }>(FINISH_BATCHES.text, [batchIds]);
    if (finished.length !== 2 || finished.some((b) => b.status !== 'completed')) {
      throw new Error(`batches not completed: ${JSON.stringify(finished)}`);
    }
    await client.query('VACUUM ANALYZE jobs');
    await client.query('VACUUM ANALYZE results');
    progress(
      `results filled by SQL, batches completed, VACUUM ANALYZE in ${Math.round(performance.now() - filled)} ms`,
    );

    // A fresh service process, so the upload's heap does not hide (or fake) the download's memory.
    await service.stop();
    port = await freePort();
    service = await startService(env, port, GC_NODE_ARGS);
    base = `http://127.0.0.1:${port}/api/v1`;
    for (let i = 0; i < 2; i += 1) await download(base, user.key, warm.id, WARMUP_ITEMS);
    progress(`fresh service ${service.pid}, warmed up by two ${WARMUP_ITEMS}-row downloads`);

    const conveyorMs: number[] = [];
    const cursorMs: number[] = [];
    const copyOutMs: number[] = [];
    const memories: Memory[] = [];
    let first: Buffer | undefined;
    for (let attempt = 0; attempt < DOWNLOADS; attempt += 1) {
      const { value: got, memory } = await watched(service, () => download(base, user.key, uploaded.id, ITEMS));
      memories.push(memory);
      conveyorMs.push(got.ms);
      if (!first) {
        checkDownload(got.body, ITEMS);
        first = got.body;
      } else if (!got.body.equals(first)) {
        throw new Error('a later download differs from the first');
      }

      const bare = await bareCursor(db.url, uploaded.id);
      if (!bare.body.equals(first)) throw new Error('the bare cursor’s lines differ from the service’s download');
      cursorMs.push(bare.ms);

      const copied = await copyOut(db.url, uploaded.id);
      if (copied.rows !== ITEMS) throw new Error(`COPY TO returned ${copied.rows} rows for ${ITEMS}`);
      copyOutMs.push(copied.ms);
      progress(
        `download ${attempt + 1}/${DOWNLOADS}: service ${Math.round(got.ms)} ms (RSS ${mib(memory.rssBeforeKiB)} → ` +
          `${mib(memory.peakKiB)} MiB, heap after GC before it ${mib(memory.heapBefore / 1024)} MiB, ` +
          `${memory.samples} samples); bare cursor ${Math.round(bare.ms)} ms; COPY TO ${Math.round(copied.ms)} ms`,
      );
    }
    const heapAfter = await collectGarbage(service);
    const retainedMiB = mib((heapAfter - memories[0].heapBefore) / 1024);
    const downloadMiB = (first?.length ?? 0) / MiB;
    // The download that grew the most stands for all of them, its own before, peak and growth.
    const worst = memories.reduce((a, b) => (b.growthKiB > a.growthKiB ? b : a));
    const growthMiB = mib(worst.growthKiB);
    progress(
      `heap after a full GC: ${mib(memories[0].heapBefore / 1024)} MiB before the downloads, ` +
        `${mib(heapAfter / 1024)} MiB after`,
    );
    const rate = (ms: number): number => Math.round(ITEMS / (ms / 1000));
    const downloadRate = rate(median(conveyorMs));
    const cursorRate = rate(median(cursorMs));
    const copyOutRate = rate(median(copyOutMs));

    const ratio = uploadRate / copyRate;
    const downloadRatio = downloadRate / cursorRate;
    // Buffering the response would add at least its size; below a few MiB, RSS moves by itself.
    const limitMiB = Math.max(downloadMiB, 8);
    const verdict =
      retainedMiB >= 2
        ? `NOT flat: ${retainedMiB} MiB more heap is in use after the downloads and a full GC than before.`
        : growthMiB >= limitMiB
          ? `nothing is kept after a download, but that growth is above ${limitMiB.toFixed(1)} MiB ` +
            '(the larger of the download’s size and 8 MiB).'
          : `memory stays flat: that growth is under ${limitMiB.toFixed(1)} MiB (the larger of the ` +
            `download’s size and 8 MiB; buffering the response would add at least its size), and after a full ` +
            `GC the heap is within ${retainedMiB} MiB of where it started: the rows are streamed, not held.`;
    const count = ITEMS.toLocaleString('en-US');
    const growths = memories.map((m) => mib(m.growthKiB)).join(', ');
    const uploadNote = uploadMemory.exactPeak ? '' : ' (VmHWM could not be reset here: sampled peak only)';
    emitResult({
      title: `Batches: a ${count}-item NDJSON upload vs COPY, and its results download`,
      description:
        `POST /api/v1/batches with ${count} NDJSON items (${(body.length / MiB).toFixed(1)} MiB; hash jobs with ` +
        `40–240-character texts) on the built service (ROLE=api, tier enterprise), from the first byte sent to the ` +
        `201, against a raw COPY jobs (${COPY_COLUMNS}) FROM STDIN of the same rows into a fresh database on the ` +
        `same server. Then GET /api/v1/batches/{id}/results (${downloadMiB.toFixed(1)} MiB of JSON Lines) from a ` +
        `fresh service process, from the request to the last byte (median of ${DOWNLOADS}), with the service's ` +
        `VmRSS sampled every ${SAMPLE_MS} ms, against the same SELECT streamed in the bench process by a bare ` +
        `cursor and by COPY TO.`,
      columns: [
        'items or rows/s',
        'wall time (ms)',
        'RSS before (MiB)',
        'RSS peak (MiB)',
        'RSS growth (MiB)',
        'heap kept after GC (MiB)',
      ],
      rows: [
        {
          label: 'Conveyor upload: POST /batches, NDJSON → 201',
          values: [
            Math.round(uploadRate),
            Math.round(uploaded.ms),
            mib(uploadMemory.rssBeforeKiB),
            mib(uploadMemory.peakKiB),
            mib(uploadMemory.growthKiB),
            mib(uploadRetained / 1024),
          ],
        },
        {
          label: 'COPY jobs FROM STDIN, same rows (ceiling)',
          values: [Math.round(copyRate), Math.round(copyMs), 0, 0, 0, 0],
        },
        {
          label: 'Conveyor download: GET /batches/{id}/results, JSONL',
          values: [
            downloadRate,
            Math.round(median(conveyorMs)),
            mib(worst.rssBeforeKiB),
            mib(worst.peakKiB),
            growthMiB,
            retainedMiB,
          ],
        },
        {
          label: `bare cursor, same SELECT and lines (pg-query-stream, ${CURSOR_BATCH} rows a fetch)`,
          values: [cursorRate, Math.round(median(cursorMs)), 0, 0, 0, 0],
        },
        {
          label: 'COPY (same SELECT, JSON by PostgreSQL) TO STDOUT',
          values: [copyOutRate, Math.round(median(copyOutMs)), 0, 0, 0, 0],
        },
      ],
      ratio: {
        label: 'Conveyor upload / COPY FROM (rows/s)',
        value: ratio,
        interpretation:
          `The NDJSON upload reaches ${(ratio * 100).toFixed(0)} % of a raw COPY of the same rows; on top of the ` +
          `COPY it reads and validates every line, and writes a usage record per job, the batch and its ` +
          `batch.created event, in one transaction. The download streams at ${(downloadRatio * 100).toFixed(0)} % ` +
          `of a bare cursor producing the same bytes (${((downloadRate / copyOutRate) * 100).toFixed(0)} % of ` +
          `COPY TO); while sending ${downloadMiB.toFixed(1)} MiB the service's RSS rose by ${growthMiB} MiB at ` +
          `most, and ${verdict}`,
      },
      notes: [
        `Database: ${db.source}. CHECKPOINT before each timed write, so neither pays for the other's dirty pages.`,
        `Each side warmed up first: the service by an unmeasured ${WARMUP_ITEMS}-item batch; COPY needs none. The ` +
          'upload and the COPY are single measurements (each adds its rows to the table).',
        'Same rows: the service’s jobs and the COPYed ones hash to the same md5 (batch_item, custom_id, type, input, ' +
          'metadata, max_attempts, cost, status); the COPY data is pre-encoded in memory like the NDJSON body, ' +
          `both sent in ${CHUNK_BYTES / 1024} KiB chunks. The upload also wrote ${count} usage_records, which the ` +
          'COPY does not.',
        `Where the upload's ${Math.round(uploaded.ms)} ms went, from the service's own slow-query log ` +
          `(DB_SLOW_QUERY_MS=1 for the upload's service process only; it logs each statement over 1 ms, ` +
          `shorter ones are not counted): ` +
          `${sql.insertMs} ms in ${sql.inserts} INSERT … unnest statements (jobs and usage_records, up to 5,000 rows ` +
          `each), ${sql.commitMs} ms in COMMIT, ${sql.otherMs} ms in the other statements (batch row, batch.created ` +
          `event with counts, authentication), so about ` +
          `${Math.max(0, Math.round(uploaded.ms - sql.insertMs - sql.commitMs - sql.otherMs))} ms receiving, ` +
          'parsing and validating the NDJSON before the first write.',
        'Memory: both service processes run with --expose-gc and a bench preload (bench/lib/gc-preload.ts) that ' +
          'runs a full GC on SIGUSR2 and prints the heap in use; nothing else changes. Before each measured ' +
          'request: a forced full GC, then "RSS before" = the median of 15 VmRSS samples at rest; "RSS peak" = the ' +
          `larger of the VmRSS samples every ${SAMPLE_MS} ms during the request and the kernel's VmHWM, reset ` +
          `(clear_refs) at its start${uploadNote}. "Heap kept after GC" = V8 heap in use after a forced full GC ` +
          'once the request(s) ended, minus the same before: what the service still holds.',
        'Upload memory: the service keeps every validated item until all are checked (all-or-nothing), so its ' +
          'RSS grows with the batch by design, and is let go after the 201.',
        'Results were filled by SQL, not by a worker: one results row per job with the real sha256 hex ' +
          '(PostgreSQL sha256()), jobs marked completed, the batches ended by FINISH_BATCHES (queue.finishBatches), then VACUUM ' +
          'ANALYZE; every downloaded line is checked (JSON object, jobId a UUID, customId in upload order, the ' +
          'digest Node computes) and is byte-for-byte what the bare cursor produced.',
        `Download memory: a new service process, so nothing of the upload's heap counts,, warmed up by two ` +
          `${WARMUP_ITEMS}-row downloads; the row shows the download that grew most; growth per download: ` +
          `${growths} MiB. The RSS peak is mostly garbage V8 had not collected yet (its major GC runs when it ` +
          `chooses); the heap kept after a full GC is the measure of rows held.`,
        'Baselines of the download run in the bench process with no HTTP: the bare cursor is the repository’s ' +
          `SELECT through pg-query-stream (batchSize ${CURSOR_BATCH}) and JSON.stringify per row; COPY TO builds ` +
          'each line with json_build_object in PostgreSQL. Their memory columns are not measured (0).',
      ],
    });
  } finally {
    await service?.stop();
    await copyClient?.end().catch(() => undefined);
    // Dropped before its server (which `db` may be); a failure here must not keep `db` alive.
    await copyDb?.dispose().catch((error: unknown) => progress(`could not drop the COPY database: ${String(error)}`));
    await client.end().catch(() => undefined);
    await db.dispose();
  }
}

runBench(main);
