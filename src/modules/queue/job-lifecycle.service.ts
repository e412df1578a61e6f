import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../../config/config.js';
import { Db } from '../../database/db.js';
import { retryOnConflict } from '../../database/retry.js';
import { JobChanges } from './job-changes.js';
import { QuotaExceededError } from './quota-exceeded.error.js';
import * as Q from './queue.sql.js';
import type { ParentRow, TransitionRow } from './queue.sql.js';
import type {
  BatchStatus,
  ClaimedJob,
  JobFailure,
  JobRow,
  NewBatchItem,
  NewJob,
  QueueChange,
  RunStatus,
  RunStep,
} from './queue.types.js';

/** Rows per multi-row INSERT of a batch's jobs: 7 arrays of this length stay far below PostgreSQL's limits. */
const BATCH_INSERT_CHUNK = 5000;

function jobChange(r: TransitionRow): QueueChange {
  return {
    kind: 'job',
    jobId: r.id,
    userId: r.user_id,
    batchId: r.batch_id,
    runId: r.pipeline_run_id,
    type: r.type,
    from: r.from_status,
    to: r.status,
    durationMs:
      r.from_status === 'running' && r.started_at && r.finished_at
        ? r.finished_at.getTime() - r.started_at.getTime()
        : null,
  };
}

const batchChange = (r: ParentRow): QueueChange => ({
  kind: 'batch',
  batchId: r.id,
  userId: r.user_id,
  status: r.status as BatchStatus,
});
const runChange = (r: ParentRow): QueueChange => ({
  kind: 'run',
  runId: r.id,
  userId: r.user_id,
  status: r.status as RunStatus,
});

const distinct = (ids: Array<string | null>): string[] => [...new Set(ids.filter((id): id is string => !!id))];

/**
 * The one owner of a job's life: enqueue (single, batch, pipeline run), claim, heartbeat,
 * complete, fail and retry, release, cancel (job, batch, run), a user's retry, the sweeper's
 * repairs and retention. Every write to a job's status, its result and usage record, a batch's
 * or run's status and their webhook events happens here (statements in queue.sql.ts), and every
 * committed change is published on {@link JobChanges}. Batches, pipelines and the Jobs API call
 * it; it knows none of them.
 *
 * Ending a batch or a run is a check made after the change that may have ended it committed (see
 * FINISH_BATCHES); a failure of that check is logged and left to the sweeper's repair pass, never
 * turned into an error for a change that succeeded.
 */
@Injectable()
export class JobLifecycle {
  private readonly logger = new Logger('JobLifecycle');

  constructor(
    private readonly db: Db,
    private readonly changes: JobChanges,
    private readonly config: AppConfig,
  ) {}

  /**
   * Inserts a job and charges its credits; with an idempotency key this user already used, inserts
   * nothing and returns undefined (also when no credits are left: a replay costs nothing). Throws
   * QuotaExceededError (writing nothing) when a new job's cost would pass the month's credits.
   */
  async enqueue(job: NewJob): Promise<JobRow | undefined> {
    const [row] = await this.db.query(Q.ENQUEUE, [
      job.userId,
      job.type,
      JSON.stringify(job.input),
      job.priority,
      job.runAt,
      job.maxAttempts,
      JSON.stringify(job.metadata),
      job.cost,
      job.idempotencyKey,
      job.requestHash,
      job.creditLimit,
    ]);
    if (!row.charged) {
      // A replay of a used key creates nothing and costs nothing: answered as one (undefined), even
      // when no credits are left; only new work is refused (and counted as refused).
      if (job.idempotencyKey && (await this.db.query(Q.IDEMPOTENCY_KEY_USED, [job.userId, job.idempotencyKey])).length)
        return undefined;
      throw this.refused('job', Number(row.used_before), job.creditLimit, job.cost);
    }
    if (!row.id) {
      // The key was used before: this request creates nothing, so it costs nothing.
      await this.db.query(Q.REFUND_CREDITS, [job.userId, job.cost]);
      return undefined;
    }
    const created = row as JobRow & TransitionRow;
    this.publish([created]);
    return created;
  }

  /**
   * The batch, all its jobs and usage records, and its batch.created event, in one transaction;
   * the jobs in multi-row INSERTs of BATCH_INSERT_CHUNK rows, not row by row. Returns the batch id.
   */
  async enqueueBatch(
    userId: string,
    items: NewBatchItem[],
    metadata: Record<string, unknown>,
    creditLimit: number,
  ): Promise<string> {
    const cost = items.reduce((sum, item) => sum + item.cost, 0);
    const { batchId, created } = await this.db.transaction(async (tx) => {
      // All or nothing, credits included: the whole batch's cost is charged first, or nothing is written.
      if ((await tx.query(Q.CHARGE_CREDITS, [userId, cost, creditLimit])).length === 0) {
        const [{ used }] = await tx.query(Q.CREDITS_USED, [userId]);
        throw this.refused('batch', Number(used), creditLimit, cost);
      }
      const [batch] = await tx.query(Q.INSERT_BATCH, [userId, items.length, JSON.stringify(metadata)]);
      const created: Array<{ id: string; type: string }> = [];
      for (let start = 0; start < items.length; start += BATCH_INSERT_CHUNK) {
        const chunk = items.slice(start, start + BATCH_INSERT_CHUNK);
        const rows = await tx.query(Q.INSERT_BATCH_JOBS, [
          userId,
          batch.id,
          chunk.map((i) => i.type),
          chunk.map((i) => JSON.stringify(i.input)),
          chunk.map((i) => JSON.stringify(i.metadata)),
          chunk.map((i) => i.maxAttempts),
          chunk.map((i) => i.cost),
          chunk.map((i) => i.customId),
          chunk.map((i) => i.index),
        ]);
        for (const row of rows) created.push(row);
      }
      await tx.query(Q.BATCH_CREATED, [batch.id]);
      return { batchId: batch.id, created };
    });
    if (this.changes.active) {
      this.changes.publish(
        created.map((j) => ({
          kind: 'job',
          jobId: j.id,
          userId,
          batchId,
          runId: null,
          type: j.type,
          from: null,
          to: 'queued',
          durationMs: null,
        })),
      );
    }
    return batchId;
  }

  /**
   * A pipeline run and its first step's job, whose input the caller merged and validated. Returns
   * the run id. Admitted only if the whole run's cost fits in what is left of the month's credits
   * (QuotaExceededError otherwise, writing nothing); each step is charged when its job is created.
   */
  async startRun(
    userId: string,
    pipelineId: string,
    steps: RunStep[],
    runInput: unknown,
    firstInput: unknown,
    metadata: Record<string, unknown>,
    creditLimit: number,
  ): Promise<string> {
    const total = steps.reduce((sum, step) => sum + step.cost, 0);
    const [row] = await this.db.query(Q.START_RUN, [
      userId,
      pipelineId,
      JSON.stringify(steps),
      JSON.stringify(runInput),
      JSON.stringify(metadata),
      steps[0].type,
      JSON.stringify(firstInput),
      steps[0].maxAttempts,
      steps[0].cost,
      total,
      creditLimit,
    ]);
    if (!row.charged || !row.run_id) throw this.refused('run', Number(row.used_before), creditLimit, total);
    this.publish([row as TransitionRow]);
    return row.run_id;
  }

  /** Claims up to `limit` due jobs for `workerId`, leased for `leaseMs`, within each user's running cap. */
  async claim(workerId: string, limit: number, leaseMs: number): Promise<ClaimedJob[]> {
    const { free, pro, enterprise } = this.config.fairness.maxRunning;
    const rows = await this.db.query(Q.CLAIM, [workerId, limit, leaseMs, free, pro, enterprise]);
    this.publish(rows);
    return rows;
  }

  /** Extends the leases of the jobs this worker still holds; returns the ids it still holds. */
  async heartbeat(workerId: string, ids: string[], leaseMs: number): Promise<Set<string>> {
    const rows = await this.db.query(Q.HEARTBEAT, [workerId, ids, leaseMs]);
    return new Set(rows.map((r) => r.id));
  }

  /**
   * running → completed for many jobs of this worker at once, in one statement; `json` is each
   * output, serialized. Returns the ids completed: a job missing from it was no longer ours.
   */
  async complete(workerId: string, jobs: Array<{ id: string; json: string }>): Promise<Set<string>> {
    const rows = await retryOnConflict(() =>
      this.db.query(Q.COMPLETE, [workerId, jobs.map((j) => j.id), jobs.map((j) => j.json)]),
    );
    this.publish(rows);
    await this.afterEnded(rows);
    return new Set(rows.map((r) => r.id));
  }

  /** A pipeline step's completion, with the next step's job or the run's completion. False if the job was no longer ours. */
  async completeStep(workerId: string, id: string, json: string): Promise<boolean> {
    const rows = await this.db.query(Q.COMPLETE_STEP, [id, workerId, json]);
    this.publish(rows);
    const done = rows.find((r) => r.id === id);
    if (done?.run_completed && done.pipeline_run_id) {
      this.changes.publish([runChange({ id: done.pipeline_run_id, user_id: done.user_id, status: 'completed' })]);
    }
    return done !== undefined;
  }

  /**
   * A failed attempt: back to queued after `retryInMs` while attempts remain and it is given
   * (the error is retryable); otherwise failed. Returns the new status, or undefined if the job
   * was no longer ours.
   */
  async fail(
    workerId: string,
    id: string,
    error: JobFailure,
    retryInMs: number | undefined,
  ): Promise<'queued' | 'failed' | undefined> {
    const rows = await this.db.query(Q.FAIL, [id, workerId, JSON.stringify(error), retryInMs ?? null]);
    this.publish(rows);
    await this.afterEnded(rows);
    return rows[0]?.status as 'queued' | 'failed' | undefined;
  }

  /** Gives a worker's jobs back to the queue (shutdown) without charging an attempt; returns how many. */
  async release(workerId: string, ids: string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const rows = await this.db.query(Q.RELEASE, [workerId, ids]);
    this.publish(rows);
    return rows.length;
  }

  /** Re-queues (or fails, when out of attempts) running jobs whose lease expired. */
  async sweepExpired(): Promise<TransitionRow[]> {
    const rows = await this.db.query(Q.SWEEP_EXPIRED);
    this.publish(rows);
    return rows;
  }

  /** Deletes up to `limit` finished standalone jobs created before `cutoff`; returns how many. */
  async purgeJobs(cutoff: Date, limit: number): Promise<number> {
    return (await this.db.query(Q.PURGE_JOBS, [cutoff, limit])).length;
  }

  /** Deletes up to `limit` results created before `cutoff`; returns how many. */
  async purgeResults(cutoff: Date, limit: number): Promise<number> {
    return (await this.db.query(Q.PURGE_RESULTS, [cutoff, limit])).length;
  }

  /**
   * Ends the given batches (every open one when undefined: the sweeper's repair pass) if none of
   * their jobs is queued or running, with their batch.completed event.
   */
  async finishBatches(ids?: string[]): Promise<ParentRow[]> {
    const rows = await this.db.transaction(async (tx) => {
      const locked = await tx.query(Q.LOCK_OPEN_BATCHES, [ids ?? null]);
      return locked.length ? tx.query(Q.FINISH_BATCHES, [locked.map((r) => r.id)]) : [];
    });
    this.changes.publish(rows.map(batchChange));
    return rows;
  }

  /** Ends the given running runs (all when undefined) whose current step failed or was cancelled. */
  async stopRuns(ids?: string[]): Promise<ParentRow[]> {
    const rows = await this.db.transaction(async (tx) => {
      const locked = await tx.query(Q.LOCK_RUNNING_RUNS, [ids ?? null]);
      return locked.length ? tx.query(Q.STOP_RUNS, [locked.map((r) => r.id)]) : [];
    });
    this.changes.publish(rows.map(runChange));
    return rows;
  }

  /** A user's cancel of a queued or running job; undefined when it is not theirs or not cancellable. */
  async cancel(userId: string, id: string): Promise<JobRow | undefined> {
    const [row] = await this.db.query(Q.CANCEL, [id, userId]);
    if (!row) return undefined;
    const changes = this.publish([row]);
    await this.afterEnded([row]);
    await this.announce(changes);
    return row;
  }

  /** A user's retry of a failed or cancelled job; undefined when it is not theirs, not retryable, or its batch or run ended. */
  async retry(userId: string, id: string): Promise<JobRow | undefined> {
    const [row] = await this.db.query(Q.RETRY, [id, userId]);
    if (row) await this.announce(this.publish([row]));
    return row;
  }

  /** Cancels a batch in progress and its queued and running jobs, then ends it. False when it is not theirs or has ended. */
  async cancelBatch(userId: string, id: string): Promise<boolean> {
    const cancelled = await this.db.transaction(async (tx) => {
      const marked = await tx.query(Q.MARK_BATCH_CANCELLING, [id, userId]);
      return marked.length ? tx.query(Q.CANCEL_JOBS_OF, [id, null]) : undefined;
    });
    if (!cancelled) return false;
    const changes = this.publish(cancelled);
    await this.settle(() => this.finishBatches([id]), { batchId: id });
    await this.announce([...changes, batchChange({ id, user_id: userId, status: 'cancelled' })]);
    return true;
  }

  /** Cancels a running run and its current step's job. False when it is not theirs or not running. */
  async cancelRun(userId: string, id: string): Promise<boolean> {
    const result = await this.db.transaction(async (tx) => {
      await tx.query(Q.LOCK_RUN_STEP, [id, userId]);
      const [run] = await tx.query(Q.CANCEL_RUN, [id, userId]);
      return run ? { run, jobs: await tx.query(Q.CANCEL_JOBS_OF, [null, id]) } : undefined;
    });
    if (!result) return false;
    const run = runChange(result.run);
    const changes = this.publish(result.jobs);
    this.changes.publish([run]);
    await this.announce([...changes, run]);
    return true;
  }

  /** After jobs ended (committed): end the batches they were the last of, and the runs they stopped. */
  private async afterEnded(rows: TransitionRow[]): Promise<void> {
    const ended = rows.filter((r) => r.status !== 'queued' && r.status !== 'running');
    if (ended.length === 0) return;
    const batchIds = distinct(ended.map((r) => r.batch_id));
    // A completed step chains in its own statement; a failed or cancelled one stops its run here.
    const runIds = distinct(ended.filter((r) => r.status !== 'completed').map((r) => r.pipeline_run_id));
    if (batchIds.length) await this.settle(() => this.finishBatches(batchIds), { batchIds });
    if (runIds.length) await this.settle(() => this.stopRuns(runIds), { runIds });
  }

  /** Runs a post-commit repair step; its failure is logged and left to the sweeper. */
  private async settle(step: () => Promise<unknown>, context: Record<string, unknown>): Promise<void> {
    try {
      await step();
    } catch (error) {
      this.logger.warn({ err: error, ...context }, 'could not end a batch or run after a job ended; the sweeper will');
    }
  }

  /**
   * A change a client made (cancel, retry) is acknowledged before the API answers: the change
   * feed's notification goes to the other instances at once (not up to 10 ms later with the
   * workers' changes), and its acknowledge listeners run (the cache moves the versions of the keys
   * in Redis, so no instance serves its old copy to a read that starts after the answer).
   */
  private announce(changes: QueueChange[]): Promise<void> {
    return this.changes.acknowledge(changes);
  }

  /** Submissions refused for their credits since start, by kind (read by the metrics). */
  readonly quotaRefusals = { job: 0, batch: 0, run: 0 };

  private refused(kind: 'job' | 'batch' | 'run', used: number, limit: number, cost: number): QuotaExceededError {
    this.quotaRefusals[kind] += 1;
    return new QuotaExceededError(used, limit, cost);
  }

  /** Publishes the rows' transitions on the change feed; returns them (for {@link announce}). */
  private publish(rows: TransitionRow[]): QueueChange[] {
    const changes = rows.map(jobChange);
    if (changes.length) this.changes.publish(changes);
    return changes;
  }
}
