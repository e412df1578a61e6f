import { Injectable, type OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../../config/config.js';
import { PgListener } from '../../database/pg-listener.js';
import { JobChanges } from '../queue/job-changes.js';
import type { QueueChange } from '../queue/queue.types.js';
import { cacheKeys } from './cache-keys.js';
import { CacheService } from './cache.service.js';

/** The cached views a change makes stale: a job's transition touches the job, its result, its batch and its run. */
export function keysOf(change: QueueChange): string[] {
  if (change.kind === 'batch') return [cacheKeys.batch(change.userId, change.batchId)];
  if (change.kind === 'run') return [cacheKeys.run(change.userId, change.runId)];
  // A job just created has no cached copy yet (its 404 was not cached); its batch or run may.
  const keys =
    change.from === null
      ? []
      : [cacheKeys.job(change.userId, change.jobId), cacheKeys.jobResult(change.userId, change.jobId)];
  if (change.batchId) keys.push(cacheKeys.batch(change.userId, change.batchId));
  if (change.runId) keys.push(cacheKeys.run(change.userId, change.runId));
  return keys;
}

function distinctKeys(changes: QueueChange[]): string[] {
  return changes.length === 1 ? keysOf(changes[0]) : [...new Set(changes.flatMap(keysOf))];
}

/**
 * Invalidation from the change feed: this instance's changes synchronously right after their
 * commit (so before the client hears of them), every instance's by NOTIFY (asynchronously: until
 * it arrives, another instance may serve its copy, at most for the entry's TTL). A change a client
 * made itself is also acknowledged before it is answered: the keys' versions move in Redis, and
 * no instance serves a copy older than that to a read that starts after the answer.
 */
@Injectable()
export class CacheInvalidator implements OnModuleInit {
  constructor(
    private readonly changes: JobChanges,
    private readonly listener: PgListener,
    private readonly cache: CacheService,
    private readonly config: AppConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    // This instance's changes, each key once per publication (a batch's jobs share its key).
    // A ROLE=worker process serves no cached read: its own changes still clear Redis at once (the
    // API instances' copies there), but with a memory store nobody reads its cache at all, and
    // other instances' changes are theirs to apply (two transitions per job, and every
    // notification of the other workers, saved on a drain).
    const local = (changes: QueueChange[]): void => this.cache.invalidate(distinctKeys(changes));
    if (!this.config.runsApi) {
      if (this.cache.storeKind === 'redis') this.changes.subscribeAll(local);
      return;
    }
    this.changes.subscribeAll(local);
    // A client's own change (cancel, retry): versions moved in Redis before it is answered.
    this.changes.onAcknowledge((changes) => this.cache.acknowledge(distinctKeys(changes)));
    this.cache.setSuspended(!this.listener.connected);
    this.listener.onConnectionChange((connected) => this.cache.setSuspended(!connected));
    await this.changes.subscribeRemote((change) => this.cache.invalidate(keysOf(change)));
  }
}
