import 'reflect-metadata';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger, makeWorkerUtils, run, type LogFunctionFactory, type WorkerEvents } from 'graphile-worker';
import pg from 'pg';
import { runMigrations } from '../src/database/migrator.js';
import { benchDatabase, freePort } from './lib/database.js';
import { emitResult, isSmoke, runBench } from './lib/protocol.js';
import { seedUsers } from './lib/seed.js';
import { startService } from './lib/service.js';
import { percentile, round } from './lib/stats.js';

/**
 * The job queue itself, against Graphile Worker on the same PostgreSQL server:
 * (a) drain throughput: N pre-inserted jobs run by one worker process;
 * (b) latency on an idle queue: enqueue → started, one job at a time.
 * Both systems are timed on the same clock, PostgreSQL's (see the notes in the result).
 */
const SMOKE = isSmoke();
const DRAIN_JOBS = SMOKE ? 2_000 : 100_000;
const LATENCY_SAMPLES = SMOKE ? 20 : 200;
const LATENCY_WARMUP = SMOKE ? 3 : 10;
/** Pause after each enqueue, drawn uniformly from this range, so the queue is idle at the next one. */
const GAP_MS: [number, number] = [25, 75];
/** A drain that completes no job for this long has hung. */
const STALL_MS = 60_000;
const GRAPHILE_VERSION = '0.17.3';
const GRAPHILE_MATCHED_CONCURRENCY = 10;

function progress(message: string): void {
  process.stdout.write(`[queue] ${message}\n`);
}

function gap(): Promise<void> {
  return sleep(GAP_MS[0] + Math.random() * (GAP_MS[1] - GAP_MS[0]));
}

/** Graphile logs one info line per completed job; keep warnings and errors only (Conveyor logs none per job). */
const quietLogFactory: LogFunctionFactory = () => (level, message) => {
  const name: string = level;
  if (name === 'error' || name === 'warning') process.stderr.write(`[graphile-worker ${name}] ${message}\n`);
};
const graphileLogger = new Logger(quietLogFactory);

/** A fresh start for every drain: no dead rows or pending autovacuum of the previous one, no dirty buffers. */
async function settle(client: pg.Client, table: string): Promise<void> {
  await client.query(`VACUUM ANALYZE ${table}`);
  await client.query('CHECKPOINT');
}

interface Drain {
  jobsPerSecond: number;
  seconds: number;
  /** Conveyor only: mean number of jobs one claim statement took. */
  jobsPerClaim?: number;
}

interface Latency {
  p50: number;
  p95: number;
  p99: number;
  samples: number;
}

function latencyOf(samplesMs: number[]): Latency {
  return {
    p50: round(percentile(samplesMs, 50)),
    p95: round(percentile(samplesMs, 95)),
    p99: round(percentile(samplesMs, 99)),
    samples: samplesMs.length,
  };
}

/** Waits until `remaining()` is 0, failing if it stops going down for STALL_MS. */
async function waitForDrain(label: string, remaining: () => Promise<number>, everyMs: number): Promise<void> {
  let last = Number.POSITIVE_INFINITY;
  let lastChange = Date.now();
  let lastReport = Date.now();
  for (;;) {
    const left = await remaining();
    if (left === 0) return;
    if (left < last) {
      last = left;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > STALL_MS) {
      throw new Error(`${label}: ${left} jobs still pending, none completed for ${STALL_MS / 1000} s`);
    }
    if (Date.now() - lastReport >= 10_000) {
      progress(`${label}: ${left} jobs left`);
      lastReport = Date.now();
    }
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------- Conveyor

async function conveyorDrain(url: string, client: pg.Client, userId: string): Promise<Drain> {
  await client.query(
    `INSERT INTO jobs (user_id, type, input, cost)
     SELECT $1, 'echo', jsonb_build_object('i', g), 1 FROM generate_series(1, $2) g`,
    [userId, DRAIN_JOBS],
  );
  await settle(client, 'jobs');
  progress(`Conveyor: ${DRAIN_JOBS} echo jobs queued; starting one ROLE=worker process`);
  const worker = await startService({ DATABASE_URL: url, ROLE: 'worker' }, await freePort());
  try {
    await waitForDrain(
      'Conveyor',
      async () =>
        (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE status IN ('queued', 'running')`))
          .rows[0].n,
      // The figures come from the rows' timestamps: polling only detects the end, so it can be slow.
      1000,
    );
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\nworker output:\n${worker.output()}`);
  } finally {
    await worker.stop();
  }
  // Jobs claimed by one statement share its now(): distinct started_at values count the claims.
  const { rows } = await client.query<{ completed: number; results: number; seconds: number; claims: number }>(
    `SELECT count(*) FILTER (WHERE status = 'completed')::int AS completed,
            (SELECT count(*)::int FROM results) AS results,
            extract(epoch FROM max(finished_at) - min(started_at))::float8 AS seconds,
            count(DISTINCT started_at)::int AS claims
       FROM jobs`,
  );
  const { completed, results, seconds, claims } = rows[0];
  if (completed !== DRAIN_JOBS || results !== DRAIN_JOBS) {
    throw new Error(`Conveyor: ${completed} jobs completed and ${results} results, expected ${DRAIN_JOBS}`);
  }
  return { jobsPerSecond: DRAIN_JOBS / seconds, seconds, jobsPerClaim: DRAIN_JOBS / claims };
}

async function conveyorLatency(url: string, client: pg.Client, key: string): Promise<Latency> {
  const port = await freePort();
  const service = await startService({ DATABASE_URL: url, ROLE: 'all' }, port);
  const ids: string[] = [];
  try {
    progress(`Conveyor: ${LATENCY_WARMUP} + ${LATENCY_SAMPLES} jobs through POST /api/v1/jobs, one at a time`);
    for (let i = 0; i < LATENCY_WARMUP + LATENCY_SAMPLES; i += 1) {
      const response = await fetch(`http://127.0.0.1:${port}/api/v1/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'echo', input: { i } }),
      });
      const body = (await response.json()) as { id?: string };
      if (response.status !== 201 || !body.id) {
        throw new Error(`POST /api/v1/jobs returned ${response.status}: ${JSON.stringify(body)}`);
      }
      ids.push(body.id);
      await gap();
    }
    await waitForDrain(
      'Conveyor latency',
      async () =>
        (
          await client.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1::uuid[]) AND started_at IS NULL`,
            [ids],
          )
        ).rows[0].n,
      50,
    );
  } finally {
    await service.stop();
  }
  const measured = ids.slice(LATENCY_WARMUP);
  const { rows } = await client.query<{ ms: number }>(
    `SELECT extract(epoch FROM started_at - created_at)::float8 * 1000 AS ms FROM jobs WHERE id = ANY($1::uuid[])`,
    [measured],
  );
  return latencyOf(rows.map((r) => r.ms));
}

// ----------------------------------------------------------------------------------- Graphile Worker

async function graphileDrain(url: string, client: pg.Client, concurrency?: number): Promise<Drain> {
  const utils = await makeWorkerUtils({ connectionString: url, logger: graphileLogger });
  try {
    await utils.migrate();
    const chunk = 10_000;
    for (let start = 0; start < DRAIN_JOBS; start += chunk) {
      const size = Math.min(chunk, DRAIN_JOBS - start);
      await utils.addJobs(Array.from({ length: size }, (_, k) => ({ identifier: 'noop', payload: { i: start + k } })));
    }
  } finally {
    await utils.release();
  }
  await settle(client, 'graphile_worker._private_jobs');
  const label = `Graphile Worker (concurrency ${concurrency ?? '1, default'})`;
  progress(`${label}: ${DRAIN_JOBS} no-op jobs queued; starting its runner`);

  // Started: the moment get_job returned the first job. Completed: the moment the queue table is
  // empty, since Graphile deletes a job when it completes it (asynchronously, after the task returns).
  const events = new EventEmitter() as WorkerEvents;
  let firstStart: number | undefined;
  events.once('job:start', () => (firstStart = performance.now()));
  let executed = 0;
  const runner = await run({
    connectionString: url,
    logger: graphileLogger,
    noHandleSignals: true,
    events,
    taskList: { noop: () => void (executed += 1) },
    ...(concurrency === undefined ? {} : { concurrency }),
  });
  let end: number;
  try {
    const remaining = async (): Promise<number> =>
      (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM graphile_worker._private_jobs')).rows[0].n;
    // Coarse polling while most jobs are left, then tight polling for an accurate end time.
    await waitForDrain(label, async () => Math.max(0, DRAIN_JOBS - executed - 50), 250);
    await waitForDrain(label, remaining, 2);
    end = performance.now();
  } finally {
    await runner.stop();
  }
  if (firstStart === undefined || executed !== DRAIN_JOBS) {
    throw new Error(`${label}: ran ${executed} jobs, expected ${DRAIN_JOBS}`);
  }
  const seconds = (end - firstStart) / 1000;
  return { jobsPerSecond: DRAIN_JOBS / seconds, seconds };
}

async function graphileLatency(url: string, concurrency?: number): Promise<Latency> {
  const samples = new Map<string, number>();
  // Read while the task runs: the row is deleted on completion. Computed in SQL for microseconds
  // (a JS Date would round both timestamps to the millisecond).
  const runner = await run({
    connectionString: url,
    logger: graphileLogger,
    noHandleSignals: true,
    taskList: {
      probe: async (_payload, helpers) => {
        const { rows } = await helpers.withPgClient((c) =>
          c.query<{ ms: number }>(
            `SELECT extract(epoch FROM locked_at - created_at)::float8 * 1000 AS ms
               FROM graphile_worker._private_jobs WHERE id = $1`,
            [helpers.job.id],
          ),
        );
        samples.set(String(helpers.job.id), rows[0].ms);
      },
    },
    ...(concurrency === undefined ? {} : { concurrency }),
  });
  const utils = await makeWorkerUtils({ connectionString: url, logger: graphileLogger });
  const ids: string[] = [];
  try {
    progress(`Graphile Worker: ${LATENCY_WARMUP} + ${LATENCY_SAMPLES} jobs through addJob, one at a time`);
    for (let i = 0; i < LATENCY_WARMUP + LATENCY_SAMPLES; i += 1) {
      ids.push(String((await utils.addJob('probe', { i })).id));
      await gap();
    }
    await waitForDrain('Graphile latency', async () => ids.filter((id) => !samples.has(id)).length, 50);
  } finally {
    await utils.release();
    await runner.stop();
  }
  return latencyOf(ids.slice(LATENCY_WARMUP).map((id) => samples.get(id)!));
}

// ---------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const db = await benchDatabase();
  const client = new pg.Client({ connectionString: db.url });
  // Dropping the database on a signal ends this connection: not a crash.
  client.on('error', () => undefined);
  try {
    progress(`database: ${db.source}`);
    await runMigrations(db.url);
    await client.connect();
    const [user] = await seedUsers(client, 1);

    const conveyor = await conveyorDrain(db.url, client, user.id);
    progress(`Conveyor: ${Math.round(conveyor.jobsPerSecond)} jobs/s`);
    await client.query('TRUNCATE jobs CASCADE');
    const graphile = await graphileDrain(db.url, client);
    progress(`Graphile Worker (defaults): ${Math.round(graphile.jobsPerSecond)} jobs/s`);
    const graphileMatched = await graphileDrain(db.url, client, GRAPHILE_MATCHED_CONCURRENCY);
    progress(`Graphile Worker (concurrency 10): ${Math.round(graphileMatched.jobsPerSecond)} jobs/s`);

    const conveyorLat = await conveyorLatency(db.url, client, user.key);
    const graphileLat = await graphileLatency(db.url);
    const graphileMatchedLat = await graphileLatency(db.url, GRAPHILE_MATCHED_CONCURRENCY);

    const row = (label: string, drain: Drain, lat: Latency): { label: string; values: number[] } => ({
      label,
      values: [Math.round(drain.jobsPerSecond), round(drain.seconds), lat.p50, lat.p95, lat.p99],
    });
    const ratio = conveyor.jobsPerSecond / graphile.jobsPerSecond;
    const matchedRatio = conveyor.jobsPerSecond / graphileMatched.jobsPerSecond;
    emitResult({
      title: 'Job queue: drain throughput and idle-queue latency, Conveyor vs Graphile Worker',
      description:
        `(a) ${DRAIN_JOBS.toLocaleString('en-US')} jobs inserted in bulk, then drained by one worker: Conveyor's ` +
        '`node dist/src/main.js` with ROLE=worker and default settings (echo jobs), Graphile Worker ' +
        `${GRAPHILE_VERSION} run in the bench process (no-op task), same PostgreSQL server and database, ` +
        `its own schema. (b) ${LATENCY_SAMPLES} jobs enqueued one at a time ${GAP_MS[0]}–${GAP_MS[1]} ms apart ` +
        `(after ${LATENCY_WARMUP} unmeasured), enqueue → started: Conveyor through POST /api/v1/jobs on a ` +
        'ROLE=all process, Graphile through WorkerUtils.addJob.',
      columns: ['drain jobs/s', 'drain time (s)', 'enqueue→start p50 (ms)', 'p95 (ms)', 'p99 (ms)'],
      rows: [
        row('Conveyor (WORKER_CONCURRENCY=10, default)', conveyor, conveyorLat),
        row('Graphile Worker (concurrency 1, default)', graphile, graphileLat),
        row(`Graphile Worker (concurrency ${GRAPHILE_MATCHED_CONCURRENCY})`, graphileMatched, graphileMatchedLat),
      ],
      ratio: {
        label: 'Conveyor / Graphile Worker, both on defaults (drain jobs/s)',
        value: ratio,
        interpretation:
          `Conveyor drains ${ratio.toFixed(2)}× as many jobs per second as Graphile Worker on its defaults, ` +
          `and ${matchedRatio.toFixed(2)}× as many as Graphile Worker with the same concurrency ` +
          `(${GRAPHILE_MATCHED_CONCURRENCY}); the defaults differ (10 jobs at once against 1), so the second ` +
          `figure compares the queues, the first what a user gets out of the box. On an idle queue a job ` +
          `starts ${conveyorLat.p50} ms (p50) / ${conveyorLat.p99} ms (p99) after it is enqueued on Conveyor, ` +
          `${graphileLat.p50} / ${graphileLat.p99} ms on Graphile Worker.`,
      },
      notes: [
        `Database: ${db.source}.`,
        `Graphile Worker is pinned to ${GRAPHILE_VERSION}: 0.18 needs Node >= 22.18, and both sides run on the ` +
          'project’s Node 20 here (CI also runs the tests on Node 24).',
        'Clock: PostgreSQL now() for both systems. Conveyor drain = max(finished_at) − min(started_at) over ' +
          'the jobs (started_at is set by the claim, finished_at by the completion). Graphile Worker deletes ' +
          'completed jobs, so its drain runs from the first `job:start` event (get_job returned the first ' +
          'job) to the moment its jobs table is seen empty (polled every 2 ms once every task has run), on ' +
          'performance.now() of the bench process, which runs its worker.',
        'Latency clock: PostgreSQL now() for both. Conveyor: started_at − created_at of the job row ' +
          '(created_at is the start of the API’s insert transaction, which also writes the usage record and ' +
          'the NOTIFY before it commits; the HTTP request before it is not counted). Graphile Worker: ' +
          'locked_at − created_at of its job row, read by the task while the row still exists.',
        `Settings: Conveyor defaults (WORKER_CONCURRENCY=10, DB_POOL_SIZE=10, WORKER_POLL_INTERVAL_MS=1000, ` +
          'LOG_LEVEL=info), woken by LISTEN/NOTIFY. Graphile Worker defaults (concurrency 1, pollInterval ' +
          '2000 ms, maxPoolSize 10, no local queue, no batched completion), woken by its own NOTIFY; the only ' +
          'changes are a logger that drops its per-job info line and noHandleSignals. The third row sets ' +
          `concurrency ${GRAPHILE_MATCHED_CONCURRENCY} to match Conveyor.`,
        'Before each drain the queue table is VACUUM ANALYZEd and a CHECKPOINT is taken, so no run pays for ' +
          "the previous one's dead rows or dirty pages. Detecting the end: Conveyor, a count of open jobs every " +
          'second (the figure comes from the timestamps); Graphile, its task counter, then a count of its table ' +
          'every 2 ms for the last 50 jobs.',
        `Conveyor's worker took ${round(conveyor.jobsPerClaim ?? 0)} jobs per claim statement on average ` +
          `(distinct started_at values; at most WORKER_CONCURRENCY=10): it claims as many as it has free slots.`,
        'Each Conveyor job also writes a results row; a Graphile job only deletes its row.',
      ],
    });
  } finally {
    await client.end().catch(() => undefined);
    await db.dispose();
  }
}

runBench(main);
