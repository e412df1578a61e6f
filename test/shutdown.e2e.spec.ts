import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { failed, Load, Prober } from './helpers/http-load.js';
import { freePort } from './helpers/ports.js';
import { startService, waitForReady, type ServiceProcess } from './helpers/process.js';
import { waitFor } from './helpers/wait.js';

const DRAIN_MS = 1500;
/**
 * The load balancer's rule, as the clients below play it: an instance leaves rotation once its
 * readiness probe fails, after the balancer's reaction time (Kubernetes: probe period ×
 * failureThreshold, then endpoint propagation). Here the clients send no NEW request once
 * STOP_AFTER_MS have passed since a probe first answered 503; whatever they sent before must be
 * answered. SHUTDOWN_DRAIN_MS is what covers that reaction time, so it is set well above it:
 * 400 of 1500 ms, a second of margin on a busy machine.
 */
const STOP_AFTER_MS = 400;
/** Readiness must turn 503 this soon after the signal (a probe goes out every 20 ms). */
const READY_503_WITHIN_MS = 200;
const PROBE_INTERVAL_MS = 20;
const CLIENTS = 8;
const GRACE_MS = 500;
const ADMIN_KEY = 'test-shutdown-admin-key-0123456789abcdefghijkl';

interface LogLine {
  level: string;
  time: string;
  msg: string;
  context?: string;
  requestId?: string;
  [field: string]: unknown;
}

/** The service's log lines, all of them (the helper's output() keeps only the last 200 KB). */
function collectLogs(service: ServiceProcess): LogLine[] {
  const lines: LogLine[] = [];
  let partial = '';
  service.child.stdout.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop()!;
    for (const part of parts) if (part.startsWith('{')) lines.push(JSON.parse(part) as LogLine);
  });
  return lines;
}

/** A real ROLE=all process, stopped with SIGTERM by pid while clients keep it busy. */
describe('graceful shutdown under load', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db.drop());

  async function jobIdsWhere(condition: string, params: unknown[] = []): Promise<string[]> {
    const { rows } = await db.pool.query<{ id: string }>(`SELECT id FROM jobs WHERE ${condition}`, params);
    return rows.map((r) => r.id);
  }

  it('SIGTERM: readiness 503 at once, every request answered, no job left running, closed in order', async () => {
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const service = startService({
      DATABASE_URL: db.url,
      REDIS_URL: inject('redisUrl'),
      ROLE: 'all',
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_API_KEY: ADMIN_KEY,
      SHUTDOWN_DRAIN_MS: String(DRAIN_MS),
      // Well inside the test's timeout: a close that hangs shows as exit code 1.
      SHUTDOWN_TIMEOUT_MS: '15000',
      WORKER_CONCURRENCY: '4',
      WORKER_SHUTDOWN_GRACE_MS: String(GRACE_MS),
      LOG_LEVEL: 'info',
    });
    const logs = collectLogs(service);
    await waitForReady(port, service);

    const setup = new Pool(origin, { connections: 1 });
    const call = async (path: string, key: string, body: unknown) => {
      const res = await setup.request({
        method: 'POST',
        path,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.statusCode).toBe(201);
      return (await res.body.json()) as { id: string; key: string };
    };
    // Enterprise: its monthly credits and running cap are not what this test is about.
    const user = await call('/api/v1/admin/users', ADMIN_KEY, {
      name: 'load',
      email: 'l@test.local',
      tier: 'enterprise',
    });
    const { key } = await call(`/api/v1/admin/users/${user.id}/api-keys`, ADMIN_KEY, {});
    // Two jobs that cannot finish within the grace period: the worker must release them.
    const long = [
      (await call('/api/v1/jobs', key, { type: 'sleep', input: { ms: 20_000 } })).id,
      (await call('/api/v1/jobs', key, { type: 'sleep', input: { ms: 20_000 } })).id,
    ];
    await setup.close();
    await waitFor(
      'the long jobs to be running',
      () => jobIdsWhere(`status = 'running'`),
      (ids) => ids.length === 2,
    );

    const load = new Load(origin, key, CLIENTS);
    const prober = new Prober(origin, PROBE_INTERVAL_MS);
    await waitFor(
      'the load to be under way: jobs completed, short ones running beside the long ones',
      async () => ({
        completed: (await jobIdsWhere(`status = 'completed'`)).length,
        running: (await jobIdsWhere(`status = 'running'`)).length,
      }),
      (c) => c.completed >= 5 && c.running >= 3,
      { timeout: 20_000, context: service.output },
    );

    let signalled!: () => void;
    const drainOver = new Promise<void>((resolve) => (signalled = resolve)).then(() => sleep(DRAIN_MS + 300));
    const slowBefore = load.slowPost('slow-before-sigterm', drainOver);
    await sleep(100);
    // Between a completion and the next claim no short job may be running for a moment.
    const runningAtSigterm = await waitFor(
      'short jobs to be running',
      () => jobIdsWhere(`status = 'running' AND NOT (id = ANY($1::uuid[]))`, [long]),
      (ids) => ids.length > 0,
      { interval: 5 },
    );
    const sigtermAt = performance.now();
    process.kill(service.pid, 'SIGTERM');
    signalled();

    const first503 = (await waitFor('readiness to answer 503', () => prober.first503(), Boolean, {
      timeout: 5000,
      interval: 5,
      context: () =>
        JSON.stringify({
          probesSinceSignal: prober.probes.filter((p) => p.sentAt >= sigtermAt).slice(0, 5),
          failedRequests: failed(load.sent.filter((s) => s.doneAt !== undefined)).slice(0, 5),
        }),
    }))!;
    const slowDuring = load.slowPost('slow-during-drain', drainOver);
    await sleep(first503.at + STOP_AFTER_MS - performance.now());
    load.stop();
    await load.done;
    await sleep(sigtermAt + DRAIN_MS - 200 - performance.now());
    await prober.stop();
    const slow = await Promise.all([slowBefore, slowDuring]);
    const exitCode = await service.exited;
    await Promise.all([load.close(), ...slow.map((s) => s.client.close())]);

    expect(exitCode, service.output()).toBe(0);

    // Readiness: 200 until the signal, 503 within READY_503_WITHIN_MS of it and from then on.
    const { probes } = prober;
    expect(first503.at - sigtermAt).toBeLessThan(READY_503_WITHIN_MS);
    const before = probes.filter((p) => p.at < sigtermAt).map((p) => p.status);
    expect(before).toEqual(before.map(() => 200));
    const after = probes.filter((p) => p.sentAt > first503.at).map((p) => p.status);
    expect(after).toEqual(after.map(() => 503));

    // Every request sent got its expected answer: none failed, none refused, no 5xx.
    expect(failed(load.sent)).toEqual([]);
    expect(load.sent.length).toBeGreaterThan(50);
    // The instance went on serving after readiness turned 503, ending each connection after its
    // answer (so that a balancer's next connection goes to another instance).
    const drained = load.sent.filter((s) => s.sentAt > first503.at && s.connection !== undefined);
    expect(drained.length).toBeGreaterThanOrEqual(CLIENTS);
    expect(drained.filter((s) => s.connection !== 'close')).toEqual([]);
    // The slow requests were in flight when the drain ended, and were answered.
    for (const { entry } of slow) expect(entry.doneAt! - sigtermAt).toBeGreaterThan(DRAIN_MS);

    // In PostgreSQL: every job a client got 201 for exists; none is left running.
    const found = await jobIdsWhere(`id = ANY($1::uuid[])`, [load.jobIds]);
    expect(found.length).toBe(load.jobIds.length);
    const { rows: statuses } = await db.pool.query(`SELECT DISTINCT status FROM jobs ORDER BY status`);
    expect(statuses).toEqual([{ status: 'completed' }, { status: 'queued' }]);
    // The short jobs running at the signal finished during the drain.
    const { rows: ranOn } = await db.pool.query(`SELECT DISTINCT status FROM jobs WHERE id = ANY($1::uuid[])`, [
      runningAtSigterm,
    ]);
    expect(ranOn).toEqual([{ status: 'completed' }]);
    // The long ones were released after the grace period, their attempt not charged.
    const { rows: released } = await db.pool.query(`SELECT status, attempts FROM jobs WHERE id = ANY($1::uuid[])`, [
      long,
    ]);
    expect(released).toEqual([
      { status: 'queued', attempts: 0 },
      { status: 'queued', attempts: 0 },
    ]);

    // The log: each step once, in this order.
    const steps: Array<[string, (l: LogLine) => boolean]> = [
      ['readiness 503', (l) => l.msg === 'shutting down: readiness is now 503'],
      ['worker stopped claiming', (l) => l.context === 'JobWorker' && l.msg === 'job worker stopped claiming'],
      ['HTTP closed', (l) => l.msg === 'HTTP server closed'],
      ['worker stopped', (l) => l.context === 'JobWorker' && l.msg === 'job worker stopped'],
      ['dispatcher stopped', (l) => l.context === 'WebhookDispatcher' && l.msg === 'webhook dispatcher stopped'],
      ['Redis closed', (l) => l.context === 'Redis' && l.msg === 'Redis connection closed'],
      ['database pools closed', (l) => l.context === 'Database' && l.msg.startsWith('database pools closed')],
      ['PostgreSQL closed', (l) => l.msg === 'PostgreSQL connections closed'],
      ['stopped', (l) => l.msg === 'stopped'],
    ];
    const at = steps.map(([name, match]) => {
      const indexes = logs.flatMap((l, i) => (match(l) ? [i] : []));
      expect(indexes, `log line "${name}"`).toHaveLength(1);
      return indexes[0];
    });
    const shutdownLog = logs
      .slice(Math.min(...at))
      .filter((l) => l.msg !== 'request completed' || l.requestId?.startsWith('slow-'));
    expect(at, JSON.stringify(shutdownLog, null, 1)).toEqual([...at].sort((a, b) => a - b));
    expect(logs[at[3]]).toMatchObject({ released: 2 });
    // The slow requests were answered before HTTP reported closed.
    for (const id of ['slow-before-sigterm', 'slow-during-drain']) {
      const answered = logs.findIndex((l) => l.requestId === id && l.msg === 'request completed');
      expect(answered).toBeGreaterThan(at[0]);
      expect(answered).toBeLessThan(at[2]);
    }
    // No job ran that was claimed after the signal (the claim sets started_at; a job released
    // keeps it, and one claimed as the signal came is released unstarted).
    const late = await jobIdsWhere(`status <> 'queued' AND started_at > $1::timestamptz + interval '50 milliseconds'`, [
      logs[at[0]].time,
    ]);
    expect(late).toEqual([]);
    // Nothing went wrong on the way out.
    expect(logs.filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
  });
});
