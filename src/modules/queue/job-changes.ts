import { Injectable, Logger } from '@nestjs/common';
import { PgListener } from '../../database/pg-listener.js';
import {
  JOB_CHANGES_CHANNEL,
  type BatchStatus,
  type JobStatus,
  type QueueChange,
  type RunStatus,
} from './queue.types.js';

export type ChangeListener = (change: QueueChange) => void;

/**
 * The queue's change feed: the one place that hears about every job transition and every batch or
 * pipeline run that ended, so the features that react to them (cache invalidation, metrics,
 * quotas) subscribe here instead of being called from wherever a transition happens.
 *
 * - {@link subscribe}: every change this process made, right after it committed, with the job's
 *   previous status and, for a job that ended, how long it ran.
 * - {@link subscribeRemote}: every committed change of every instance (this one included), from
 *   NOTIFY conveyor_job_changes, sent by the changing statement itself (so exactly on commit, and
 *   never for a rolled-back change). Creations are not sent (nothing can hold a stale copy of a
 *   job that did not exist), nor durations. While the LISTEN connection is down notifications
 *   are lost: a consumer that must not miss one watches `PgListener.connected`, as the auth cache
 *   does.
 *
 * A notification's payload is a JSON array of entries, at most 25:
 * `["job", id, userId, batchId, runId, type, from, to]`, `["batch", id, userId, status]`,
 * `["run", id, userId, status]`.
 */
@Injectable()
export class JobChanges {
  private readonly logger = new Logger('JobChanges');
  private readonly local: ChangeListener[] = [];
  private readonly remote: ChangeListener[] = [];

  constructor(private readonly listener: PgListener) {}

  /** True once anybody subscribed locally: callers skip building changes nobody would read. */
  get active(): boolean {
    return this.local.length > 0;
  }

  subscribe(listener: ChangeListener): void {
    this.local.push(listener);
  }

  /** Resolves once the channel is listened to (at once while the LISTEN connection is down). */
  async subscribeRemote(listener: ChangeListener): Promise<void> {
    this.remote.push(listener);
    // LISTEN only once somebody cares: an idle channel costs the sender nothing.
    if (this.remote.length === 1) await this.listener.subscribe(JOB_CHANGES_CHANNEL, (p) => this.received(p));
  }

  /** Called by JobLifecycle after the changes committed. A throwing listener is logged, never the caller's problem. */
  publish(changes: QueueChange[]): void {
    for (const change of changes) this.deliver(this.local, change);
  }

  private received(payload: string): void {
    let entries: unknown[][];
    try {
      entries = JSON.parse(payload) as unknown[][];
    } catch (error) {
      this.logger.warn({ err: error }, 'malformed job change notification');
      return;
    }
    for (const entry of entries) {
      const change = parseEntry(entry);
      if (change) this.deliver(this.remote, change);
    }
  }

  private deliver(listeners: ChangeListener[], change: QueueChange): void {
    for (const listener of listeners) {
      try {
        listener(change);
      } catch (error) {
        this.logger.error({ err: error, change }, 'a job change listener threw');
      }
    }
  }
}

function parseEntry(entry: unknown[]): QueueChange | undefined {
  const [kind, id, userId] = entry as [string, string, string];
  if (kind === 'job') {
    const [, , , batchId, runId, type, from, to] = entry as [
      string,
      string,
      string,
      string | null,
      string | null,
      string,
      JobStatus | null,
      JobStatus,
    ];
    return { kind, jobId: id, userId, batchId, runId, type, from, to, durationMs: null };
  }
  if (kind === 'batch') return { kind, batchId: id, userId, status: entry[3] as BatchStatus };
  if (kind === 'run') return { kind, runId: id, userId, status: entry[3] as RunStatus };
  return undefined;
}
