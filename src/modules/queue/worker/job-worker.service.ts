import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { MicroBatcher } from '../../../common/batching/micro-batcher.js';
import { Waker } from '../../../common/loop/waker.js';
import { LifecycleState } from '../../../common/lifecycle/lifecycle.state.js';
import { AppConfig } from '../../../config/config.js';
import { PgListener } from '../../../database/pg-listener.js';
import { JobError, type JobType } from '../../job-types/job-type.js';
import { JobTypeRegistry } from '../../job-types/job-type.registry.js';
import { isDataError } from '../../../database/errors.js';
import { serializeOutput } from './storable-output.js';
import { JobLifecycle } from '../job-lifecycle.service.js';
import { JOB_CANCEL_CHANNEL, JOBS_CHANNEL, type ClaimedJob, type JobFailure } from '../queue.types.js';
import { runFor } from '../../../common/context/statement-context.js';

interface InFlight {
  job: ClaimedJob;
  controller: AbortController;
  done: Promise<void>;
}

/** Thrown into a handler's signal: why the attempt was aborted decides what happens to the job. */
class AbortReason extends Error {
  constructor(
    readonly kind: 'timeout' | 'cancelled' | 'lease-lost' | 'shutdown',
    message: string,
  ) {
    super(message);
  }
}

/** min(max, base·2^(attempt−1)) with ±20 % jitter, so retries of many jobs do not arrive in step. */
export function backoffMs(type: Pick<JobType, 'backoff'>, attempt: number, random = Math.random): number {
  const raw = Math.min(type.backoff.maxMs, type.backoff.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw * (0.8 + 0.4 * random()));
}

/**
 * The job worker (ROLE=worker or all). The `jobs` table is the queue:
 * - claims due jobs with FOR UPDATE SKIP LOCKED, as many as free slots (WORKER_CONCURRENCY);
 * - wakes on NOTIFY conveyor_jobs, and polls every WORKER_POLL_INTERVAL_MS in case one is missed;
 * - holds a lease renewed every third of WORKER_LEASE_MS (QueueSweeperService re-queues the
 *   jobs of a worker that stopped renewing);
 * - aborts a handler on timeout, on cancel (NOTIFY conveyor_job_cancel) and when its lease is lost;
 * - stops claiming as the shutdown begins (SIGTERM, before the HTTP drain: a job claimed then
 *   would likely have to be released; a claim under way then gives its jobs back unstarted);
 *   after HTTP has closed, lets in-flight jobs finish for WORKER_SHUTDOWN_GRACE_MS, then aborts
 *   and releases the rest to `queued`, so no job is left `running`. Leases are renewed until then.
 * Execution is at-least-once: a worker killed mid-job leaves it to the sweeper, and it runs again.
 */
@Injectable()
export class JobWorkerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('JobWorker');
  readonly workerId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly inFlight = new Map<string, InFlight>();
  private running = false;
  private readonly waker = new Waker();
  /**
   * Completions are written in batches: one statement (one commit) for all jobs finishing while
   * the previous write is in flight. Resolves with whether the job was still ours.
   */
  private readonly completions = new MicroBatcher<{ id: string; json: string }, boolean>((jobs) =>
    // Many jobs in one statement: not the context of whichever job came first.
    runFor({ component: 'worker: completions' }, async () => {
      const done = await this.lifecycle.complete(this.workerId, jobs);
      return jobs.map((j) => done.has(j.id));
    }),
  );
  private loop: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly config: AppConfig,
    private readonly lifecycle: JobLifecycle,
    private readonly types: JobTypeRegistry,
    private readonly listener: PgListener,
    private readonly state: LifecycleState,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.runsWorker) return;
    this.running = true;
    // While the shared LISTEN connection is down the worker still polls, and a cancelled job's
    // handler is aborted by the next heartbeat instead of at once.
    await this.listener.subscribe(JOBS_CHANNEL, () => this.wake());
    await this.listener.subscribe(JOB_CANCEL_CHANNEL, (id) =>
      this.inFlight.get(id)?.controller.abort(new AbortReason('cancelled', 'job cancelled')),
    );
    const { leaseMs } = this.config.worker;
    this.timers.push(setInterval(() => void this.heartbeat(), Math.max(250, Math.floor(leaseMs / 3))));
    this.loop = runFor({ component: 'worker' }, () => this.run());
    this.state.onShutdown(() => this.stopClaiming());
    this.logger.log({ workerId: this.workerId, concurrency: this.config.worker.concurrency }, 'job worker started');
  }

  /** Ends the claim loop; jobs in flight go on. */
  private stopClaiming(): void {
    if (!this.running) return;
    this.running = false;
    this.wake();
    this.logger.log({ inFlight: this.inFlight.size }, 'job worker stopped claiming');
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (!this.loop) return;
    this.stopClaiming();
    await this.loop;
    this.loop = undefined;
    const grace = this.config.worker.shutdownGraceMs;
    const waiting = this.inFlight.size;
    const all = Promise.all([...this.inFlight.values()].map((f) => f.done));
    const finished = await Promise.race([
      all.then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), grace)),
    ]);
    let released = 0;
    if (!finished) {
      const ids = [...this.inFlight.keys()];
      for (const f of this.inFlight.values()) f.controller.abort(new AbortReason('shutdown', 'worker shutting down'));
      released = await this.lifecycle.release(this.workerId, ids);
      this.logger.warn({ released }, 'released in-flight jobs to the queue after the shutdown grace period');
      await all;
    }
    // Only now: a job still running here must keep its lease, or a sweeper elsewhere re-queues it
    // and another worker runs it at the same time.
    for (const timer of this.timers) clearInterval(timer);
    this.logger.log({ finished: waiting - released, released }, 'job worker stopped');
  }

  private async run(): Promise<void> {
    const { concurrency, pollIntervalMs, leaseMs } = this.config.worker;
    while (this.running) {
      this.waker.startRound();
      const free = concurrency - this.inFlight.size;
      let claimed: ClaimedJob[] = [];
      if (free > 0) {
        try {
          claimed = await this.lifecycle.claim(this.workerId, free, leaseMs);
        } catch (error) {
          this.logger.error({ err: error }, 'claim failed; retrying after the poll interval');
        }
        // The shutdown began during the claim: nothing claimed after the signal starts here.
        if (!this.running && claimed.length > 0) {
          await this.releaseUnstarted(claimed);
          return;
        }
        for (const job of claimed) this.start(job);
      }
      // Jobs claimed and slots left: more may be waiting (a full batch; or users this claim filled
      // up to their running cap, whom the next claim passes over). Claim again at once. Otherwise
      // sleep until a NOTIFY, a finished job frees a slot, or the poll interval passes.
      if (claimed.length > 0 && free > 0) continue;
      await this.waker.sleep(pollIntervalMs);
    }
  }

  private async releaseUnstarted(jobs: ClaimedJob[]): Promise<void> {
    try {
      await this.lifecycle.release(
        this.workerId,
        jobs.map((j) => j.id),
      );
    } catch (error) {
      // Their leases lapse and the sweeper re-queues them: nothing is lost.
      this.logger.error({ err: error, jobs: jobs.length }, 'could not release jobs claimed as the shutdown began');
    }
  }

  /** Wakes the claim loop now, or right after the claim in progress (a NOTIFY then is not lost). */
  private wake(): void {
    this.waker.wake();
  }

  private start(job: ClaimedJob): void {
    const controller = new AbortController();
    const entry: InFlight = { job, controller, done: Promise.resolve() };
    entry.done = runFor({ jobId: job.id, jobType: job.type }, () => this.execute(job, controller)).finally(() => {
      this.inFlight.delete(job.id);
      this.wake();
    });
    this.inFlight.set(job.id, entry);
  }

  private async execute(job: ClaimedJob, controller: AbortController): Promise<void> {
    const type = this.types.get(job.type);
    if (!type) {
      await this.failAttempt(
        job,
        { code: 'UNKNOWN_JOB_TYPE', message: `No job type "${job.type}" on this worker` },
        false,
      );
      return;
    }
    // A pipeline step's input was built from the previous output, never checked by the API.
    const invalidInput = job.pipeline_run_id ? this.types.validateInput(type.name, job.input) : [];
    if (invalidInput.length) {
      const message = invalidInput.map((e) => `${e.field} ${e.message}`).join('; ');
      await this.failAttempt(job, { code: 'INVALID_INPUT', message: `The step's input is invalid: ${message}` }, false);
      return;
    }
    const timeout = setTimeout(
      () =>
        controller.abort(
          new AbortReason('timeout', `Attempt exceeded the ${type.timeoutMs} ms timeout of type ${type.name}`),
        ),
      type.timeoutMs,
    );
    try {
      // A handler that ignores its signal still cannot hold the slot past the abort.
      const aborted = new Promise<never>((_, reject) =>
        controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true }),
      );
      const output = await Promise.race([
        type.handle(job.input, {
          jobId: job.id,
          userId: job.user_id,
          attempt: job.attempts,
          signal: controller.signal,
        }),
        aborted,
      ]);
      // Serialized once: checked here for what PostgreSQL would refuse, stored as is.
      const serialized = serializeOutput(output, this.config.limits.jsonMaxDepth);
      const invalid =
        this.types.validateOutput(type.name, output) ?? ('invalid' in serialized ? serialized.invalid : undefined);
      if (invalid || !('json' in serialized)) {
        await this.failAttempt(job, { code: 'INVALID_OUTPUT', message: invalid! }, false, type);
        return;
      }
      const { json } = serialized;
      let completed: boolean;
      try {
        completed = job.pipeline_run_id
          ? await this.lifecycle.completeStep(this.workerId, job.id, json)
          : await this.completions.add({ id: job.id, json });
      } catch (error) {
        if (isDataError(error)) {
          // PostgreSQL refused the output itself: storing it again cannot succeed, and running the
          // job again would repeat its side effects for nothing.
          const message = `PostgreSQL could not store the output: ${(error as Error).message}`;
          await this.failAttempt(job, { code: 'INVALID_OUTPUT', message: message.slice(0, 1000) }, false, type);
          return;
        }
        // The handler succeeded; storing it did not (connection lost, database restarting). Not the
        // job's fault, so no failed attempt: its lease lapses and the sweeper gives it to a worker
        // again (at-least-once).
        this.logger.error({ err: error, jobId: job.id }, 'could not store a completed job; it will run again');
        return;
      }
      if (!completed) this.logger.debug({ jobId: job.id }, 'job finished but was no longer ours (cancelled or swept)');
    } catch (error) {
      await this.handleError(job, type, error, controller.signal);
    } finally {
      clearTimeout(timeout);
    }
  }

  private async handleError(job: ClaimedJob, type: JobType, error: unknown, signal: AbortSignal): Promise<void> {
    const reason = signal.aborted ? signal.reason : undefined;
    if (reason instanceof AbortReason) {
      // Cancelled or swept: the row already says so. Shutdown: released by beforeApplicationShutdown.
      if (reason.kind !== 'timeout') return;
      await this.failAttempt(job, { code: 'TIMEOUT', message: reason.message }, true, type);
      return;
    }
    if (error instanceof JobError) {
      await this.failAttempt(job, { code: error.code, message: error.message }, error.retryable, type);
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    this.logger.warn({ jobId: job.id, type: job.type, err: error }, 'job handler threw');
    await this.failAttempt(job, { code: 'HANDLER_ERROR', message: message.slice(0, 1000) }, true, type);
  }

  private async failAttempt(job: ClaimedJob, failure: JobFailure, retryable: boolean, type?: JobType): Promise<void> {
    const retryIn = retryable && type ? backoffMs(type, job.attempts) : undefined;
    try {
      await this.lifecycle.fail(this.workerId, job.id, failure, retryIn);
    } catch (error) {
      // The lease will expire and the sweeper will requeue the job: nothing is lost.
      this.logger.error({ err: error, jobId: job.id }, 'could not record a failed attempt');
    }
  }

  private async heartbeat(): Promise<void> {
    const ids = [...this.inFlight.keys()];
    if (ids.length === 0) return;
    try {
      const held = await this.lifecycle.heartbeat(this.workerId, ids, this.config.worker.leaseMs);
      for (const id of ids) {
        const entry = this.inFlight.get(id);
        if (entry && !held.has(id)) entry.controller.abort(new AbortReason('lease-lost', 'lease lost'));
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'heartbeat failed; leases may expire');
    }
  }
}
