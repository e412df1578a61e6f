import { AppConfig } from '../../src/config/config.js';
import { createUser, type TestApp } from './app.js';
import type { TestDatabase } from './database.js';
import { waitFor, type WaitOptions } from './wait.js';

/**
 * Observable conditions the tests wait for, built on waitFor. To show that "nothing else
 * happens", wait for the thing that would make it happen to be over (the queue drained, every
 * handler returned, a sweep pass run, the webhook outbox sent), then assert: never a fixed sleep.
 */

/** GETs `url` as `key` until it answers 200 with a `status` among `statuses`; returns the body. */
export async function waitForStatus(
  t: TestApp,
  key: string,
  url: string,
  statuses: string[],
  options?: WaitOptions,
): Promise<any> {
  const last = await waitFor(
    `GET ${url} to show status ${statuses.join(' or ')}`,
    async () => {
      const res = await t.request({ method: 'GET', url, key });
      return { http: res.status, body: res.body };
    },
    (r) => r.http === 200 && statuses.includes(r.body?.status),
    options,
  );
  return last.body;
}

/** Until no job of the batch, the pipeline run or the ids is queued or running. */
export async function waitForJobsEnded(
  db: TestDatabase,
  of: { batchId?: string; runId?: string; ids?: string[] },
  options?: WaitOptions,
): Promise<void> {
  await waitFor(
    `no queued or running job of ${JSON.stringify(of)}`,
    async () =>
      (
        await db.pool.query<{ id: string; status: string }>(
          `SELECT id, status FROM jobs
            WHERE status IN ('queued', 'running')
              AND ($1::uuid IS NULL OR batch_id = $1) AND ($2::uuid IS NULL OR pipeline_run_id = $2)
              AND ($3::uuid[] IS NULL OR id = ANY($3::uuid[]))`,
          [of.batchId ?? null, of.runId ?? null, of.ids ?? null],
        )
      ).rows,
    (active) => active.length === 0,
    options,
  );
}

/**
 * Until every handler that was in flight on the one worker claiming on `t`'s database has
 * returned, and so has written whatever it was going to write (a late completion, a batch
 * check, a next step). It fills all `concurrency` slots of that worker with probe jobs of a
 * user of its own and waits until all of them run at once, which the worker allows only when no
 * other handler holds a slot; then it cancels them. `concurrency` is the worker's
 * WORKER_CONCURRENCY: by default the in-process app's.
 */
export async function waitForIdleWorker(
  t: TestApp,
  concurrency = t.app.get(AppConfig).worker.concurrency,
): Promise<void> {
  // Enterprise: its running cap (QUEUE_MAX_RUNNING_ENTERPRISE) must not keep probes from filling every slot.
  const probe = await createUser(t.db, { tier: 'enterprise' });
  const ids: string[] = [];
  let failure: unknown;
  try {
    for (let i = 0; i < concurrency; i += 1) {
      const res = await t.request({
        method: 'POST',
        url: '/api/v1/jobs',
        key: probe.key,
        body: { type: 'sleep', input: { ms: 60_000 }, metadata: { probe: true } },
      });
      if (res.status !== 201) throw new Error(`could not create a probe job: ${res.status} ${res.text}`);
      ids.push(res.body.id);
    }
    await waitFor(
      `all ${concurrency} worker slots to run probe jobs (so every earlier handler has returned)`,
      async () =>
        (
          await t.db.pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1::uuid[]) AND status = 'running'`,
            [ids],
          )
        ).rows[0].n,
      (running) => running === concurrency,
      { timeout: 20_000 },
    );
  } catch (error) {
    failure = error;
  }
  // Probes left running would hold the worker's slots for a minute: cancel them whatever happened.
  const notCancelled: string[] = [];
  for (const id of ids) {
    const res = await t.request({ method: 'POST', url: `/api/v1/jobs/${id}/cancel`, key: probe.key });
    if (res.status !== 200) notCancelled.push(`${id}: ${res.status} ${res.text}`);
  }
  if (failure) throw failure;
  if (notCancelled.length) throw new Error(`could not cancel probe jobs:\n${notCancelled.join('\n')}`);
}

/** Until no webhook delivery of the user (or of the one endpoint) is pending: every one was sent and settled. */
export async function waitForDeliveriesSettled(
  db: TestDatabase,
  of: { userId?: string; webhookId?: string },
  options?: WaitOptions,
): Promise<void> {
  await waitFor(
    `no pending webhook delivery of ${JSON.stringify(of)}`,
    async () =>
      (
        await db.pool.query<{ id: string; event_type: string; attempts: number }>(
          `SELECT id, event_type, attempts FROM webhook_deliveries
            WHERE status = 'pending' AND ($1::uuid IS NULL OR user_id = $1) AND ($2::uuid IS NULL OR webhook_id = $2)`,
          [of.userId ?? null, of.webhookId ?? null],
        )
      ).rows,
    (pending) => pending.length === 0,
    options,
  );
}
