import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Db } from '../../database/db.js';
import { PgListener } from '../../database/pg-listener.js';
import { NOTIFY_CHANGES } from './queue.sql.js';
import {
  JOB_CHANGES_CHANNEL,
  type BatchStatus,
  type JobStatus,
  type QueueChange,
  type RunStatus,
} from './queue.types.js';

export type ChangeListener = (change: QueueChange) => void;

/** Runs before a client's own change is answered; see {@link JobChanges.acknowledge}. */
export type AcknowledgeListener = (changes: QueueChange[]) => Promise<void>;

/**
 * The queue's change feed: the one place that hears about every job transition and every batch or
 * pipeline run that ended, so the features that react to them (cache invalidation, metrics,
 * quotas) subscribe here instead of being called from wherever a transition happens.
 *
 * - {@link subscribe}: every change this process made, right after it committed, with the job's
 *   previous status and, for a job that ended, how long it ran.
 * - {@link subscribeRemote}: every committed change of every instance (this one included), from
 *   NOTIFY conveyor_job_changes. Each instance sends its changes after they committed, gathered
 *   for up to {@link FLUSH_MS} into one statement: a NOTIFY in every claim and completion made
 *   each of those commits take PostgreSQL's notify lock and cost the queue about 30 % of its
 *   drain rate (670 → 481 jobs/s, 20k echo jobs). The price: a process that dies in that window
 *   takes its last signals with it, so a consumer must bound how stale it can be (the cache's
 *   TTLs). Creations are not sent (nothing can hold a stale copy of a job that did not exist), nor
 *   durations. While the LISTEN connection is down notifications are lost: a consumer that must
 *   not miss one watches `PgListener.connected`, as the auth cache does.
 *
 * A notification's payload is a JSON array of entries, at most 25:
 * `["job", id, userId, batchId, runId, type, from, to]`, `["batch", id, userId, status]`,
 * `["run", id, userId, status]`.
 */
/** How long changes are gathered before they are sent to the other instances. */
const FLUSH_MS = 10;
/** A notification's payload must stay under 8,000 bytes. */
const MAX_PAYLOAD = 7900;

@Injectable()
export class JobChanges implements OnApplicationShutdown {
  private readonly logger = new Logger('JobChanges');
  private readonly local: ChangeListener[] = [];
  private readonly remote: ChangeListener[] = [];
  private readonly acknowledgers: AcknowledgeListener[] = [];
  private readonly localAll: Array<(changes: QueueChange[]) => void> = [];
  /** Entries waiting to be sent to the other instances. */
  private outgoing: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> = Promise.resolve();

  constructor(
    private readonly listener: PgListener,
    private readonly db: Db,
  ) {}

  /** True once anybody subscribed locally: creations (which only local listeners get) are skipped otherwise. */
  get active(): boolean {
    return this.local.length > 0 || this.localAll.length > 0;
  }

  subscribe(listener: ChangeListener): void {
    this.local.push(listener);
  }

  /**
   * Like {@link subscribe}, but called once per publication with all its changes: a batch's
   * 100,000 creations arrive in one call, for a listener that can act on them together (the
   * cache drops its batch's key once, not once per job).
   */
  subscribeAll(listener: (changes: QueueChange[]) => void): void {
    this.localAll.push(listener);
  }

  /**
   * `listener` runs, and is awaited, before a change a client made through the API (cancel,
   * retry) is answered: what must hold for every instance once the client has heard of its change
   * (the cache's versions in Redis) is done there, not left to the asynchronous notification.
   */
  onAcknowledge(listener: AcknowledgeListener): void {
    this.acknowledgers.push(listener);
  }

  /**
   * Before a client's change (already published) is answered: the queued notifications go out
   * at once instead of up to 10 ms later, and every {@link onAcknowledge} listener has run. A
   * listener's failure is logged, never the client's.
   */
  async acknowledge(changes: QueueChange[]): Promise<void> {
    await Promise.all([
      this.flush(),
      ...this.acknowledgers.map((listener) =>
        listener(changes).catch((error: unknown) =>
          this.logger.warn({ err: error, changes: changes.length }, 'an acknowledge listener failed'),
        ),
      ),
    ]);
  }

  /** Resolves once the channel is listened to (at once while the LISTEN connection is down). */
  async subscribeRemote(listener: ChangeListener): Promise<void> {
    this.remote.push(listener);
    // LISTEN only once somebody cares: an idle channel costs the sender nothing.
    if (this.remote.length === 1) await this.listener.subscribe(JOB_CHANGES_CHANNEL, (p) => this.received(p));
  }

  /**
   * Called by JobLifecycle after the changes committed: delivers them to this process's
   * listeners at once, and queues them for the other instances. A throwing listener is logged,
   * never the caller's problem.
   */
  publish(changes: QueueChange[]): void {
    for (const change of changes) {
      this.deliver(this.local, change);
      const entry = toEntry(change);
      if (entry) this.outgoing.push(entry);
    }
    for (const listener of this.localAll) {
      try {
        listener(changes);
      } catch (error) {
        this.logger.error({ err: error, changes: changes.length }, 'a job change listener threw');
      }
    }
    if (this.outgoing.length > 0 && !this.timer) {
      this.timer = setTimeout(() => void this.flush(), FLUSH_MS);
      this.timer.unref();
    }
  }

  /** Sends what is queued, after any send in progress (so notifications keep their order). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const entries = this.outgoing;
    this.outgoing = [];
    if (entries.length === 0) return this.sending;
    this.sending = this.sending.then(async () => {
      try {
        await this.db.query(NOTIFY_CHANGES, [payloads(entries)]);
      } catch (error) {
        this.logger.warn({ err: error, changes: entries.length }, 'could not send job changes to other instances');
      }
    });
    return this.sending;
  }

  /** What is still queued goes out before the database closes. */
  async onApplicationShutdown(): Promise<void> {
    await this.flush();
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

/** A change as a notification entry (see the class comment); creations are not sent. */
function toEntry(change: QueueChange): string | undefined {
  switch (change.kind) {
    case 'job':
      return change.from === null
        ? undefined
        : JSON.stringify([
            'job',
            change.jobId,
            change.userId,
            change.batchId,
            change.runId,
            change.type,
            change.from,
            change.to,
          ]);
    case 'batch':
      return JSON.stringify(['batch', change.batchId, change.userId, change.status]);
    case 'run':
      return JSON.stringify(['run', change.runId, change.userId, change.status]);
  }
}

/** Entries joined into JSON arrays of at most MAX_PAYLOAD characters. */
function payloads(entries: string[]): string[] {
  const out: string[] = [];
  let current: string[] = [];
  let size = 2;
  for (const entry of entries) {
    if (current.length > 0 && size + entry.length + 1 > MAX_PAYLOAD) {
      out.push(`[${current.join(',')}]`);
      current = [];
      size = 2;
    }
    current.push(entry);
    size += entry.length + 1;
  }
  if (current.length > 0) out.push(`[${current.join(',')}]`);
  return out;
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
