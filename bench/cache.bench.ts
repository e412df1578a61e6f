import 'reflect-metadata';
import pg from 'pg';
import { Agent, request } from 'undici';
import { runMigrations } from '../src/database/migrator.js';
import { generateApiKey } from '../src/modules/auth/api-key.util.js';
import { benchDatabase, freePort } from './lib/database.js';
import { emitResult, isSmoke, runBench } from './lib/protocol.js';
import { startRedis, stopRedis } from './lib/redis-server.js';
import { startService } from './lib/service.js';
import { percentile, round } from './lib/stats.js';

/**
 * The response cache under a realistic read load: GET /api/v1/jobs/{id} over 10,000 jobs of 10
 * users, ids drawn from a Zipf distribution (a few jobs are polled a lot, most rarely), with
 * writes mixed in (cancel / retry of a drawn job, each invalidating the job and its result).
 * (b) hit rate and latency with Redis up; (c) the same load while Redis is stopped (killed by
 * pid): every request must still succeed, quickly; then Redis comes back and caching resumes.
 * The baseline is the same load with every read sent `Cache-Control: no-cache`, which the
 * service answers from PostgreSQL (and still stores): the database path the cache saves.
 */
const SMOKE = isSmoke();
const USERS = 10;
const JOBS_PER_USER = 1_000;
const CLIENTS = 32;
const ZIPF_S = 1.0;
const WRITE_SHARE = 0.05;
const WARMUP_MS = SMOKE ? 1_000 : 5_000;
const MEASURE_MS = SMOKE ? 2_000 : 20_000;

function progress(message: string): void {
  process.stdout.write(`[cache] ${message}\n`);
}

/** Ranks 0..n-1 with P(rank k) ∝ 1 / (k + 1)^s, by binary search over the cumulative weights. */
function zipf(n: number, s: number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k += 1) {
    sum += 1 / Math.pow(k + 1, s);
    cdf[k] = sum;
  }
  return () => {
    const u = Math.random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

interface Job {
  id: string;
  key: string;
  /** Bumped when any client's write of the job starts and when it ends: a read can tell whether another write overlapped. */
  touches: number;
  status: string;
}

interface Window {
  reads: number;
  hits: number;
  misses: number;
  writes: number;
  /** Non-2xx answers other than a write's 409 (two clients wrote the same job at once), and network errors. */
  errors: number;
  conflicts: number;
  /** A client read its own acknowledged write and got the old status (no other write in between). */
  staleReads: number;
  latenciesMs: number[];
}

const emptyWindow = (): Window => ({
  reads: 0,
  hits: 0,
  misses: 0,
  writes: 0,
  errors: 0,
  conflicts: 0,
  staleReads: 0,
  latenciesMs: [],
});

async function seed(url: string): Promise<{ jobs: Job[]; adminKey: string }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const jobs: Job[] = [];
    for (let u = 0; u < USERS; u += 1) {
      const user = await client.query<{ id: string }>(
        `INSERT INTO users (name, email, tier) VALUES ($1, $2, 'enterprise') RETURNING id`,
        [`Cache Bench ${u}`, `cache-bench-${u}@conveyor.local`],
      );
      const { key, hash, prefix } = generateApiKey();
      await client.query(`INSERT INTO api_keys (user_id, name, key_hash, prefix) VALUES ($1, 'bench', $2, $3)`, [
        user.rows[0].id,
        hash,
        prefix,
      ]);
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO jobs (user_id, type, input, metadata)
         SELECT $1, 'echo', jsonb_build_object('n', g), jsonb_build_object('batch', 'zipf')
           FROM generate_series(1, $2) g RETURNING id`,
        [user.rows[0].id, JOBS_PER_USER],
      );
      for (const row of rows) jobs.push({ id: row.id, key, touches: 0, status: 'queued' });
    }
    const admin = await client.query<{ id: string }>(
      `INSERT INTO users (name, email, role) VALUES ('Cache Bench Admin', 'cache-bench-admin@conveyor.local', 'admin') RETURNING id`,
    );
    const { key, hash, prefix } = generateApiKey();
    await client.query(`INSERT INTO api_keys (user_id, name, key_hash, prefix) VALUES ($1, 'bench', $2, $3)`, [
      admin.rows[0].id,
      hash,
      prefix,
    ]);
    await client.query('VACUUM ANALYZE jobs');
    // Ranks in random order: the hottest jobs are spread over the users and the table.
    for (let i = jobs.length - 1; i > 0; i -= 1) {
      const j = Math.floor(Math.random() * (i + 1));
      [jobs[i], jobs[j]] = [jobs[j], jobs[i]];
    }
    return { jobs, adminKey: key };
  } finally {
    await client.end();
  }
}

/** Closed-loop load: CLIENTS loops, each one request at a time, over keep-alive connections. */
async function load(
  base: string,
  jobs: Job[],
  ms: number,
  window: Window | undefined,
  options: { noCache?: boolean } = {},
): Promise<void> {
  const draw = zipf(jobs.length, ZIPF_S);
  const dispatcher = new Agent({ connections: CLIENTS, keepAliveTimeout: 30_000 });
  const deadline = Date.now() + ms;
  const w = window ?? emptyWindow();

  const read = async (job: Job): Promise<{ status: number; body: { status?: string }; cache: string | undefined }> => {
    const started = performance.now();
    const res = await request(`${base}/api/v1/jobs/${job.id}`, {
      dispatcher,
      headers: {
        authorization: `Bearer ${job.key}`,
        ...(options.noCache ? { 'cache-control': 'no-cache' } : {}),
      },
    });
    const body = (await res.body.json()) as { status?: string };
    w.latenciesMs.push(performance.now() - started);
    const cache = res.headers['x-cache'];
    return { status: res.statusCode, body, cache: typeof cache === 'string' ? cache : undefined };
  };

  const loop = async (): Promise<void> => {
    while (Date.now() < deadline) {
      const job = jobs[draw()];
      try {
        if (Math.random() >= WRITE_SHARE) {
          const r = await read(job);
          w.reads += 1;
          if (r.status !== 200) w.errors += 1;
          else if (r.cache === 'HIT') w.hits += 1;
          else w.misses += 1;
          continue;
        }
        const action = job.status === 'queued' ? 'cancel' : 'retry';
        const mine = (job.touches += 1);
        const started = performance.now();
        const res = await request(`${base}/api/v1/jobs/${job.id}/${action}`, {
          method: 'POST',
          dispatcher,
          headers: { authorization: `Bearer ${job.key}` },
        });
        const body = (await res.body.json()) as { status?: string };
        w.latenciesMs.push(performance.now() - started);
        job.touches += 1;
        if (res.statusCode === 409) {
          w.conflicts += 1;
          job.status = job.status === 'queued' ? 'cancelled' : 'queued';
          continue;
        }
        if (res.statusCode !== 200 && res.statusCode !== 201) {
          w.errors += 1;
          continue;
        }
        w.writes += 1;
        job.status = body.status ?? job.status;
        // Read your own write: unless another client's write of the job overlapped this write or
        // this read (started or ended in between), the cache must not answer with the old status.
        const after = await read(job);
        w.reads += 1;
        if (after.status !== 200) w.errors += 1;
        else {
          if (after.cache === 'HIT') w.hits += 1;
          else w.misses += 1;
          if (job.touches === mine + 1 && after.body.status !== job.status) w.staleReads += 1;
        }
      } catch {
        w.errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, loop));
  await dispatcher.close();
}

interface LevelStats {
  levels: { l1: { hits: number }; store: { hits: number; misses: number } };
  bypassed: number;
  errors: number;
}

async function cacheStats(base: string, adminKey: string): Promise<LevelStats> {
  const res = await fetch(`${base}/api/v1/cache/stats`, { headers: { authorization: `Bearer ${adminKey}` } });
  if (res.status !== 200) throw new Error(`GET /cache/stats returned ${res.status}`);
  return (await res.json()) as LevelStats;
}

interface Figures {
  requestsPerSecond: number;
  hitRate: number;
  p50: number;
  p95: number;
  p99: number;
  window: Window;
}

function figuresOf(w: Window, ms: number): Figures {
  return {
    requestsPerSecond: Math.round(((w.reads + w.writes + w.conflicts) * 1000) / ms),
    hitRate: w.reads === 0 ? 0 : w.hits / w.reads,
    p50: round(percentile(w.latenciesMs, 50)),
    p95: round(percentile(w.latenciesMs, 95)),
    p99: round(percentile(w.latenciesMs, 99)),
    window: w,
  };
}

async function main(): Promise<void> {
  const db = await benchDatabase();
  const redisPort = await freePort();
  let redis = await startRedis(redisPort);
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  try {
    progress(`database: ${db.source}; redis-server of this bench on port ${redisPort}`);
    await runMigrations(db.url);
    const { jobs, adminKey } = await seed(db.url);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const service = await startService(
      { DATABASE_URL: db.url, REDIS_URL: redisUrl, ROLE: 'api', LOG_LEVEL: 'warn' },
      port,
    );
    try {
      // (b) Redis up: warm-up (fills the cache), then the measured window.
      progress(`(b) ${CLIENTS} clients, Zipf s=${ZIPF_S} over ${jobs.length} jobs, ${WRITE_SHARE * 100} % writes`);
      await load(base, jobs, WARMUP_MS, undefined);
      const before = await cacheStats(base, adminKey);
      const up = emptyWindow();
      await load(base, jobs, MEASURE_MS, up);
      const after = await cacheStats(base, adminKey);
      const b = figuresOf(up, MEASURE_MS);
      const l1Hits = after.levels.l1.hits - before.levels.l1.hits;
      const storeHits = after.levels.store.hits - before.levels.store.hits;
      progress(
        `(b) hit rate ${(b.hitRate * 100).toFixed(1)} % (l1 ${l1Hits}, redis ${storeHits}), p95 ${b.p95} ms, ` +
          `${b.requestsPerSecond} req/s, ${up.writes} writes, ${up.staleReads} stale, ${up.errors} errors`,
      );

      // (c) Redis killed by pid, the same load.
      await stopRedis(redis);
      progress('(c) redis-server killed; the same load');
      const down = emptyWindow();
      await load(base, jobs, MEASURE_MS, down);
      const c = figuresOf(down, MEASURE_MS);
      progress(`(c) p99 ${c.p99} ms, ${c.requestsPerSecond} req/s, ${down.errors} errors, ${down.staleReads} stale`);

      // Redis back on the same port: caching resumes by itself.
      redis = await startRedis(redisPort);
      const resumed = emptyWindow();
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        await load(base, jobs, 500, resumed);
        if (resumed.hits > 0 && (await cacheStats(base, adminKey)).levels.store.hits > after.levels.store.hits) break;
      }
      progress(`Redis back: ${resumed.hits} hits in ${resumed.reads} reads after the restart`);

      // The baseline: the same reads with every one a miss (the service's database path).
      const cold = emptyWindow();
      await load(base, jobs, MEASURE_MS, cold, { noCache: true });
      const base0 = figuresOf(cold, MEASURE_MS);
      if (cold.hits > 0) throw new Error(`${cold.hits} reads with Cache-Control: no-cache were served from the cache`);
      progress(`baseline (every read a miss): p95 ${base0.p95} ms, ${base0.requestsPerSecond} req/s`);

      const problems = [
        up.errors + down.errors > 0 ? `${up.errors + down.errors} errors` : '',
        up.staleReads + down.staleReads > 0
          ? `${up.staleReads + down.staleReads} stale reads of a client's own write`
          : '',
        resumed.hits === 0 ? 'no cache hit after Redis came back' : '',
      ].filter(Boolean);
      if (problems.length) throw new Error(`cache bench: ${problems.join(', ')}`);

      emitResult({
        title: 'Response cache: a Zipf read load with writes, with Redis up and with Redis killed',
        description:
          `GET /api/v1/jobs/{id} from ${CLIENTS} closed-loop clients over keep-alive connections, ids drawn from a Zipf ` +
          `distribution (s = ${ZIPF_S}) over ${jobs.length} jobs of ${USERS} users; ${WRITE_SHARE * 100} % of operations ` +
          'are writes (cancel or retry of a drawn job, then a read of it). Service: ROLE=api on the built app, ' +
          `its own redis-server. ${MEASURE_MS / 1000} s per row after a ${WARMUP_MS / 1000} s warm-up; ` +
          'the baseline sends the same load with Cache-Control: no-cache on every read (the database path).',
        columns: ['hit rate (%)', 'req/s', 'latency p50 (ms)', 'p95 (ms)', 'p99 (ms)', 'errors'],
        rows: [
          { label: '(b) Redis up', values: row(b) },
          { label: '(c) Redis killed (fails open)', values: row(c) },
          { label: 'baseline: every read a miss', values: row(base0) },
        ],
        ratio: {
          label: 'Hit rate with Redis up',
          value: round(b.hitRate * 100),
          unit: '%',
          interpretation:
            `${(b.hitRate * 100).toFixed(1)} % of reads were served from the cache (seed floor 70 %, aim 90 %): ` +
            `${l1Hits} from the instance's own copy, ${storeHits} from Redis. p95 ${b.p95} ms against ${base0.p95} ms ` +
            `when every read goes to PostgreSQL. With Redis killed, p99 ${c.p99} ms (goal < 100 ms) and ` +
            `${down.errors} errors; caching resumed by itself when Redis came back.`,
        },
        notes: [
          `Database: ${db.source}.`,
          `Writes: ${up.writes} with Redis up, ${down.writes} with it down; after each, the writer read the job again ` +
            'and never got the status from before its write (checked unless another client wrote the job in between).',
          `A write that met another client's write of the same job got 409 (${up.conflicts + down.conflicts} times); ` +
            'those count as answered, not errors.',
          'Hit rate = X-Cache: HIT among the reads of the window; the level split comes from GET /cache/stats before and after.',
          'LOG_LEVEL=warn for this service (the request-path bench measures the log line).',
        ],
      });
    } finally {
      await service.stop();
    }
  } finally {
    await stopRedis(redis);
    await db.dispose();
  }
}

function row(f: Figures): number[] {
  return [round(f.hitRate * 100), f.requestsPerSecond, f.p50, f.p95, f.p99, f.window.errors];
}

runBench(main);
