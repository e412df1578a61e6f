import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueSweeperService } from '../src/modules/queue/worker/queue-sweeper.service.js';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';
import { waitForDeliveriesSettled, waitForIdleWorker, waitForJobsEnded, waitForStatus } from './helpers/conditions.js';
import { Receiver } from './helpers/receiver.js';

describe('pipelines', () => {
  let t: TestApp;
  let receiver: Receiver;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    receiver = await Receiver.start();
    t = await startTestApp({
      WORKER_POLL_INTERVAL_MS: '50',
      WORKER_SWEEP_INTERVAL_MS: '200',
      WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_POLL_INTERVAL_MS: '50',
    });
    alice = await createUser(t.db);
    bob = await createUser(t.db);
    const hook = await t.request({
      method: 'POST',
      url: '/api/v1/webhooks',
      key: alice.key,
      body: { url: `${receiver.url}/p`, events: ['pipeline.completed', 'pipeline.failed'] },
    });
    expect(hook.status).toBe(201);
  });
  afterAll(async () => {
    await t.close();
    await receiver.close();
  });

  async function define(user: TestUser, steps: unknown[]): Promise<string> {
    const res = await t.request({
      method: 'POST',
      url: '/api/v1/pipelines',
      key: user.key,
      body: { name: 'p', steps },
    });
    expect(res.status).toBe(201);
    return res.body.id;
  }

  async function start(user: TestUser, pipelineId: string, input: unknown): Promise<any> {
    const res = await t.request({
      method: 'POST',
      url: `/api/v1/pipelines/${pipelineId}/runs`,
      key: user.key,
      body: { input },
    });
    expect(res.status).toBe(201);
    return res.body;
  }

  /** The pipeline.* events the receiver got for one run. */
  const eventsOf = (runId: string): any[] =>
    receiver
      .at('/p')
      .map((r) => JSON.parse(r.body))
      .filter((e) => e.data.id === runId);

  const runUntil = (user: TestUser, id: string, statuses: string[]): Promise<any> =>
    waitForStatus(t, user.key, `/api/v1/pipeline-runs/${id}`, statuses, { timeout: 15_000 });

  it('validates definitions: step types exist, params fit the type’s schema', async () => {
    const bad = await t.request({
      method: 'POST',
      url: '/api/v1/pipelines',
      key: alice.key,
      body: {
        name: 'bad',
        steps: [{ type: 'hash', params: { algorithm: 'rot13' } }, { type: 'no.such.type' }],
      },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.errors.map((e: any) => e.field)).toEqual(['steps[0].params.algorithm', 'steps[1].type']);
    const empty = await t.request({
      method: 'POST',
      url: '/api/v1/pipelines',
      key: alice.key,
      body: { name: 'x', steps: [] },
    });
    expect(empty.status).toBe(422);

    const id = await define(alice, [{ type: 'echo' }]);
    const list = await t.request({ method: 'GET', url: '/api/v1/pipelines', key: alice.key });
    expect(list.body.data.map((p: any) => p.id)).toContain(id);
    const badInput = await t.request({
      method: 'POST',
      url: `/api/v1/pipelines/${await define(alice, [{ type: 'hash' }])}/runs`,
      key: alice.key,
      body: { input: { text: 1 } },
    });
    expect(badInput.status).toBe(422);
    expect(badInput.body.errors[0].field).toMatch(/^input/);
    expect((await t.request({ method: 'DELETE', url: `/api/v1/pipelines/${id}`, key: alice.key })).status).toBe(204);
    expect((await t.request({ method: 'GET', url: `/api/v1/pipelines/${id}`, key: alice.key })).status).toBe(404);
  });

  it('runs three steps end to end, each fed the previous output merged with its params', async () => {
    const pipelineId = await define(alice, [
      { type: 'echo', params: { algorithm: 'sha256' } },
      { type: 'hash' },
      { type: 'echo', params: { done: true } },
    ]);
    const started = await start(alice, pipelineId, { text: 'hello' });
    expect(started).toMatchObject({ status: 'running', currentStep: 0, pipelineId });
    // The worker may already have claimed step 1 by the time the response is built.
    expect(['queued', 'running']).toContain(started.steps[0].status);
    expect(started.steps.slice(1).map((s: any) => s.status)).toEqual(['pending', 'pending']);

    const run = await runUntil(alice, started.id, ['completed']);
    const hex = '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';
    expect(run.output).toEqual({ algorithm: 'sha256', hex, done: true });
    expect(run.steps.map((s: any) => s.status)).toEqual(['completed', 'completed', 'completed']);
    expect(run.currentStep).toBe(2);
    expect(run.finishedAt).toEqual(expect.any(String));

    // Step 2 got step 1's output (which carried step 1's params).
    const step2 = await t.request({ method: 'GET', url: `/api/v1/jobs/${run.steps[1].jobId}`, key: alice.key });
    expect(step2.body).toMatchObject({
      type: 'hash',
      input: { text: 'hello', algorithm: 'sha256' },
      pipelineRunId: run.id,
    });

    await expect.poll(() => eventsOf(run.id).length, { timeout: 10_000 }).toBe(1);
    // Exactly one: once the worker is idle, a sweep pass (which ends open runs) has run and every
    // delivery was sent, a second pipeline.completed (the run ended twice) would be here.
    await waitForIdleWorker(t);
    await t.app.get(QueueSweeperService).sweepOnce();
    await waitForDeliveriesSettled(t.db, { userId: alice.id });
    expect(eventsOf(run.id)).toHaveLength(1);
    const [event] = eventsOf(run.id);
    expect(event).toMatchObject({ type: 'pipeline.completed', data: { status: 'completed', output: run.output } });
  });

  it('a failing middle step fails the run; later steps never start', async () => {
    // Step 2's input (step 1's output ⊕ params) has `text`, which http.request does not allow.
    const pipelineId = await define(alice, [
      { type: 'echo' },
      { type: 'http.request', params: { method: 'GET', url: 'https://example.com/' } },
      { type: 'echo' },
    ]);
    const started = await start(alice, pipelineId, { text: 'x' });
    const run = await runUntil(alice, started.id, ['failed']);
    expect(run.steps.map((s: any) => s.status)).toEqual(['completed', 'failed', 'pending']);
    expect(run.steps[2].jobId).toBeNull();
    expect(run.error).toMatchObject({ code: 'STEP_FAILED', step: 1 });
    expect(run.error.jobError.code).toBe('INVALID_INPUT');
    const retry = await t.request({ method: 'POST', url: `/api/v1/jobs/${run.steps[1].jobId}/retry`, key: alice.key });
    expect(retry.status).toBe(409); // the run has failed; its outcome is final
    // Step 3 never starts: not once the run's jobs have ended, the worker has returned from every
    // handler (the failing step's included) and a sweep pass (which stops runs) has run. A third
    // job would appear if the failure path, a late write of the failed step's handler or the
    // sweeper's repair pass started the next step of a failed run.
    await waitForJobsEnded(t.db, { runId: run.id });
    await waitForIdleWorker(t);
    await t.app.get(QueueSweeperService).sweepOnce();
    const jobs = await t.db.pool.query(`SELECT count(*)::int AS n FROM jobs WHERE pipeline_run_id = $1`, [run.id]);
    expect(jobs.rows[0].n).toBe(2);
    // Every delivery sent (a second pipeline.failed would be among them): exactly one event.
    await waitForDeliveriesSettled(t.db, { userId: alice.id });
    await expect.poll(() => eventsOf(run.id).length, { timeout: 10_000 }).toBe(1);
    expect(eventsOf(run.id)[0].type).toBe('pipeline.failed');
  });

  it('cancelling a run aborts its current step and starts nothing more', async () => {
    const pipelineId = await define(alice, [{ type: 'sleep', params: { ms: 3000 } }, { type: 'echo' }]);
    const started = await start(alice, pipelineId, {});
    await expect
      .poll(
        async () =>
          (await t.request({ method: 'GET', url: `/api/v1/pipeline-runs/${started.id}`, key: alice.key })).body.steps[0]
            .status,
        { timeout: 10_000, interval: 20 },
      )
      .toBe('running');
    const cancelled = await t.request({
      method: 'POST',
      url: `/api/v1/pipeline-runs/${started.id}/cancel`,
      key: alice.key,
    });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    expect(cancelled.body.steps.map((s: any) => s.status)).toEqual(['cancelled', 'pending']);
    // Nothing more starts: not once the run's jobs have ended, the worker has returned from the
    // aborted step's handler (had the abort not reached it, that is after its 3 s sleep) and a
    // sweep pass has run. Step 2 would show a job if the cancelled step's handler still completed
    // it (its write not guarded by the job's status) or the run's advance ignored the cancel.
    await waitForJobsEnded(t.db, { runId: started.id });
    await waitForIdleWorker(t);
    await t.app.get(QueueSweeperService).sweepOnce();
    const after = (await t.request({ method: 'GET', url: `/api/v1/pipeline-runs/${started.id}`, key: alice.key })).body;
    expect(after.steps.map((s: any) => s.status)).toEqual(['cancelled', 'pending']);
    const again = await t.request({
      method: 'POST',
      url: `/api/v1/pipeline-runs/${started.id}/cancel`,
      key: alice.key,
    });
    expect(again.status).toBe(409);
  });

  it('cancelling the current step’s job itself ends the run as cancelled', async () => {
    const pipelineId = await define(alice, [{ type: 'sleep', params: { ms: 3000 } }, { type: 'echo' }]);
    const started = await start(alice, pipelineId, {});
    const jobId = started.steps[0].jobId;
    const cancel = await t.request({ method: 'POST', url: `/api/v1/jobs/${jobId}/cancel`, key: alice.key });
    expect(cancel.status).toBe(200);
    const run = await runUntil(alice, started.id, ['cancelled']);
    expect(run.steps.map((s: any) => s.status)).toEqual(['cancelled', 'pending']);
  });

  it('step params the type does not allow are refused, naming the property', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/api/v1/pipelines',
      key: alice.key,
      body: { name: 'x', steps: [{ type: 'hash', params: { algorithm: 'sha256', extra: 1 } }] },
    });
    expect(res.status).toBe(422);
    expect(res.body.errors[0].field).toBe('steps[0].params.extra');
  });

  it('lists runs newest first, filtered by status', async () => {
    const all = await t.request({ method: 'GET', url: '/api/v1/pipeline-runs?limit=100', key: alice.key });
    expect(all.status).toBe(200);
    expect(all.body.data.length).toBeGreaterThanOrEqual(3);
    const failed = await t.request({ method: 'GET', url: '/api/v1/pipeline-runs?status=failed', key: alice.key });
    expect(failed.body.data.every((r: any) => r.status === 'failed')).toBe(true);
    expect(failed.body.data.length).toBeGreaterThanOrEqual(1);
  });

  it('another user’s pipeline or run is a 404', async () => {
    const pipelineId = await define(bob, [{ type: 'echo' }]);
    const run = await start(bob, pipelineId, {});
    for (const call of [
      { method: 'GET', url: `/api/v1/pipelines/${pipelineId}` },
      { method: 'DELETE', url: `/api/v1/pipelines/${pipelineId}` },
      { method: 'POST', url: `/api/v1/pipelines/${pipelineId}/runs`, body: { input: {} } },
      { method: 'GET', url: `/api/v1/pipeline-runs/${run.id}` },
      { method: 'POST', url: `/api/v1/pipeline-runs/${run.id}/cancel` },
    ] as const) {
      expect((await t.request({ ...call, key: alice.key })).status, `${call.method} ${call.url}`).toBe(404);
    }
    const list = await t.request({ method: 'GET', url: '/api/v1/pipeline-runs?limit=100', key: alice.key });
    expect(list.body.data.map((r: any) => r.id)).not.toContain(run.id);
  });
});
