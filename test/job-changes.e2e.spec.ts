import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobChanges } from '../src/modules/queue/job-changes.js';
import type { QueueChange } from '../src/modules/queue/queue.types.js';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';
import { waitFor } from './helpers/wait.js';

type JobChange = Extract<QueueChange, { kind: 'job' }>;

/**
 * The queue's change feed: every job transition is published once, after its commit, in the
 * process that made it, and signalled to every other instance by NOTIFY from the changing
 * statement itself.
 */
describe('the job change feed', () => {
  let a: TestApp; // runs the worker
  let b: TestApp; // a second API instance of the same deployment
  let user: TestUser;
  const local: QueueChange[] = [];
  const remote: QueueChange[] = [];
  /** For each local `created` change: whether another connection could see the job when it was published. */
  const visibleAtPublish: Array<Promise<boolean>> = [];

  const jobChanges = (list: QueueChange[], jobId: string): JobChange[] =>
    list.filter((c): c is JobChange => c.kind === 'job' && c.jobId === jobId);
  const path = (list: QueueChange[], jobId: string): string[] =>
    jobChanges(list, jobId).map((c) => `${c.from ?? 'new'}→${c.to}`);

  beforeAll(async () => {
    a = await startTestApp({ WORKER_POLL_INTERVAL_MS: '100' });
    b = await startTestApp({ ROLE: 'api' }, a.db);
    user = await createUser(a.db, { tier: 'pro' });
    a.app.get(JobChanges).subscribe((change) => {
      local.push(change);
      if (change.kind === 'job' && change.from === null) {
        visibleAtPublish.push(
          a.db.pool.query('SELECT 1 FROM jobs WHERE id = $1', [change.jobId]).then((r) => r.rowCount === 1),
        );
      }
    });
    // A listener that throws is logged and changes nothing for the others or for the transition.
    a.app.get(JobChanges).subscribe(() => {
      throw new Error('a broken listener');
    });
    await b.app.get(JobChanges).subscribeRemote((change) => remote.push(change));
  });

  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  const submit = async (body: Record<string, unknown>): Promise<string> => {
    const res = await a.request({ method: 'POST', url: '/api/v1/jobs', key: user.key, body });
    expect(res.status).toBe(201);
    return res.body.id;
  };

  it('publishes created → running → completed locally, with the duration, and running/completed remotely', async () => {
    const id = await submit({ type: 'sleep', input: { ms: 30 } });
    await waitFor(
      'the job to complete locally',
      () => path(local, id),
      (p) => p.includes('running→completed'),
    );
    expect(path(local, id)).toEqual(['new→queued', 'queued→running', 'running→completed']);
    const completed = jobChanges(local, id)[2];
    expect(completed).toMatchObject({ userId: user.id, type: 'sleep', batchId: null, runId: null });
    expect(completed.durationMs).toBeGreaterThanOrEqual(30);
    // Creations are not signalled to other instances; every later change is.
    await waitFor(
      'the other instance to hear it',
      () => path(remote, id),
      (p) => p.length === 2,
    );
    expect(path(remote, id)).toEqual(['queued→running', 'running→completed']);
    expect(await Promise.all(visibleAtPublish)).not.toContain(false);
  });

  it('publishes a cancel and a retry with the status they came from, and a final failure', async () => {
    const future = await submit({ type: 'echo', input: {}, runAt: new Date(Date.now() + 3_600_000).toISOString() });
    expect((await b.request({ method: 'POST', url: `/api/v1/jobs/${future}/cancel`, key: user.key })).status).toBe(200);
    // The retry makes the job due now: instance a's worker runs it.
    expect((await b.request({ method: 'POST', url: `/api/v1/jobs/${future}/retry`, key: user.key })).status).toBe(200);
    await waitFor(
      'the retried job to complete',
      () => path(local, future),
      (p) => p.includes('running→completed'),
    );
    // b's changes reach a's local feed only as what a did itself; b's remote feed has them all.
    expect(path(local, future)).toEqual(['new→queued', 'queued→running', 'running→completed']);
    await waitFor(
      'the changes on b',
      () => path(remote, future),
      (p) => p.length === 4,
    );
    expect(path(remote, future)).toEqual([
      'queued→cancelled',
      'cancelled→queued',
      'queued→running',
      'running→completed',
    ]);

    const failing = await submit({
      type: 'http.request',
      input: { method: 'GET', url: 'http://127.0.0.1:1/' },
      maxAttempts: 1,
    });
    await waitFor(
      'the failure',
      () => path(local, failing),
      (p) => p.includes('running→failed'),
    );
    expect(path(local, failing)).toEqual(['new→queued', 'queued→running', 'running→failed']);
  });

  it('publishes a batch’s jobs and its end, here and on the other instance', async () => {
    const res = await a.request({
      method: 'POST',
      url: '/api/v1/batches',
      key: user.key,
      body: { items: [0, 1, 2].map((i) => ({ type: 'echo', input: { i } })) },
    });
    expect(res.status).toBe(201);
    const batchId: string = res.body.id;
    const ended = (list: QueueChange[]) => list.filter((c) => c.kind === 'batch' && c.batchId === batchId);
    await waitFor(
      'the batch to end locally',
      () => ended(local),
      (l) => l.length > 0,
    );
    expect(ended(local)).toEqual([{ kind: 'batch', batchId, userId: user.id, status: 'completed' }]);
    const jobs = local.filter((c): c is JobChange => c.kind === 'job' && c.batchId === batchId);
    expect(jobs.filter((c) => c.to === 'queued')).toHaveLength(3);
    expect(jobs.filter((c) => c.to === 'completed')).toHaveLength(3);
    await waitFor(
      'the batch’s end on the other instance',
      () => ended(remote),
      (l) => l.length > 0,
    );
    expect(ended(remote)).toEqual([{ kind: 'batch', batchId, userId: user.id, status: 'completed' }]);
  });

  it('publishes a pipeline run’s steps and its completion', async () => {
    const pipeline = await a.request({
      method: 'POST',
      url: '/api/v1/pipelines',
      key: user.key,
      body: { name: 'two', steps: [{ type: 'echo' }, { type: 'echo' }] },
    });
    const run = await a.request({
      method: 'POST',
      url: `/api/v1/pipelines/${pipeline.body.id}/runs`,
      key: user.key,
      body: { input: { x: 1 } },
    });
    expect(run.status).toBe(201);
    const runId: string = run.body.id;
    const ended = (list: QueueChange[]) => list.filter((c) => c.kind === 'run' && c.runId === runId);
    await waitFor(
      'the run to complete',
      () => ended(local),
      (l) => l.length > 0,
    );
    expect(ended(local)).toEqual([{ kind: 'run', runId, userId: user.id, status: 'completed' }]);
    const steps = local.filter((c): c is JobChange => c.kind === 'job' && c.runId === runId);
    expect(steps.map((c) => `${c.from ?? 'new'}→${c.to}`)).toEqual([
      'new→queued',
      'queued→running',
      'running→completed',
      'new→queued',
      'queued→running',
      'running→completed',
    ]);
    await waitFor(
      'the run’s end on the other instance',
      () => ended(remote),
      (l) => l.length > 0,
    );
  });
});
