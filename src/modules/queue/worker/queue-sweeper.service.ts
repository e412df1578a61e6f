import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../../../config/config.js';
import { JobLifecycle } from '../job-lifecycle.service.js';

const PURGE_BATCH = 1000;
const PURGE_BATCHES_PER_SWEEP = 10;

/**
 * The queue's upkeep, every WORKER_SWEEP_INTERVAL_MS in each worker process (ROLE=worker or all);
 * every step is safe to run in many processes at once (SKIP LOCKED, status re-checks):
 * - re-queues `running` jobs whose lease expired (their worker died), NOTIFYing the workers;
 * - ends batches and pipeline runs whose last job ended in a worker that died before checking;
 * - deletes expired results and jobs (RESULT_RETENTION_DAYS, JOB_RETENTION_DAYS).
 */
@Injectable()
export class QueueSweeperService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('QueueSweeper');
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  constructor(
    private readonly config: AppConfig,
    private readonly lifecycle: JobLifecycle,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.runsWorker) return;
    this.timer = setInterval(
      () => void this.tick().catch((error: unknown) => this.logger.warn({ err: error }, 'sweep failed')),
      this.config.worker.sweepIntervalMs,
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping?.catch(() => undefined); // a failed pass was logged by its tick
  }

  /** One pass; a pass still running (a long purge) makes the next tick a no-op. */
  private tick(): Promise<void> {
    this.sweeping ??= this.sweep().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  /**
   * Resolves after one whole pass that started after this call: it waits for a pass in progress,
   * then runs one, and rejects if that pass failed. For tests (and operators' tools) that must
   * know the repair passes have run instead of sleeping and hoping they did.
   */
  async sweepOnce(): Promise<void> {
    await this.sweeping?.catch(() => undefined);
    await this.tick();
  }

  private async sweep(): Promise<void> {
    const swept = await this.lifecycle.sweepExpired();
    if (swept.length) this.logger.warn({ jobs: swept }, 're-queued jobs whose lease expired');
    const finished = await this.lifecycle.finishBatches();
    if (finished.length) this.logger.log({ batches: finished }, 'finished batches');
    const stoppedRuns = await this.lifecycle.stopRuns();
    if (stoppedRuns.length) this.logger.log({ runs: stoppedRuns }, 'ended pipeline runs');
    await this.purgeExpired();
  }

  /**
   * Retention (0 keeps forever): deletes in batches of PURGE_BATCH rows, at most
   * PURGE_BATCHES_PER_SWEEP per tick, so a large backlog drains over several ticks instead of
   * holding locks and I/O in one long statement.
   */
  private async purgeExpired(): Promise<void> {
    const { jobDays, resultDays } = this.config.retention;
    const daysAgo = (days: number): Date => new Date(Date.now() - days * 86_400_000);
    const purge = async (what: string, days: number, fn: (cutoff: Date, limit: number) => Promise<number>) => {
      if (days <= 0) return;
      let total = 0;
      for (let i = 0; i < PURGE_BATCHES_PER_SWEEP; i += 1) {
        const n = await fn(daysAgo(days), PURGE_BATCH);
        total += n;
        if (n < PURGE_BATCH) break;
      }
      if (total) this.logger.log({ deleted: total, retentionDays: days }, `purged expired ${what}`);
    };
    await purge('results', resultDays, (cutoff, limit) => this.lifecycle.purgeResults(cutoff, limit));
    await purge('jobs', jobDays, (cutoff, limit) => this.lifecycle.purgeJobs(cutoff, limit));
  }
}
