import { Injectable } from '@nestjs/common';
import { Db } from '../../../database/db.js';
import { retryOnConflict } from '../../../database/retry.js';
import { CLAIM_DELIVERIES, FAIL_UNDELIVERABLE, RECORD_ATTEMPTS, type ClaimedDelivery } from './dispatcher.sql.js';

export type { ClaimedDelivery } from './dispatcher.sql.js';

/** What an attempt came to: 2xx, 410 Gone (disables the endpoint), or any other failure. */
export type Outcome = 'ok' | 'gone' | 'failed';

export interface AttemptRecord {
  deliveryId: string;
  webhookId: string;
  attemptedAt: Date;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  responseBody: string | null;
  outcome: Outcome;
  /** The delivery's new status, and when pending, the wait before the next attempt. */
  next: { status: 'succeeded' | 'failed' } | { status: 'pending'; inMs: number };
}

/** The dispatcher's SQL: claim due deliveries, record attempts, disable failing endpoints. */
@Injectable()
export class DispatcherRepository {
  constructor(private readonly db: Db) {}

  /**
   * Locks up to `limit` due deliveries for `lockMs`, oldest due first, with SKIP LOCKED so many
   * dispatchers share the table. Per endpoint it takes at most `room[webhookId]` (default
   * `defaultRoom`), and none for the endpoints in `full`: one slow or dead endpoint can hold only
   * its own share of the dispatcher's slots. It scans `scan` candidates to find them.
   */
  claim(options: {
    limit: number;
    scan: number;
    full: string[];
    room: Record<string, number>;
    defaultRoom: number;
    lockMs: number;
  }): Promise<ClaimedDelivery[]> {
    return this.db.query(CLAIM_DELIVERIES, [
      options.full,
      options.scan,
      JSON.stringify(options.room),
      options.defaultRoom,
      options.limit,
      options.lockMs,
    ]);
  }

  /** A delivery whose endpoint was disabled or deleted ends `failed` without an attempt. */
  async failUndeliverable(id: string, reason: string): Promise<void> {
    await this.db.query(FAIL_UNDELIVERABLE, [id, reason]);
  }

  /**
   * Records many attempts in one statement: the attempt rows, each delivery's new state, and the
   * health of the endpoints involved. An endpoint row is written only when its state changes
   * (first failure, recovery, disabling), so the happy path never contends on it; several
   * attempts to one endpoint count as gone if any was 410, else ok if any succeeded, else failed.
   * Returns the ids of the endpoints this disabled. Retried on a deadlock (two dispatchers
   * changing the same endpoints' health in opposite orders): the statement is all or nothing.
   */
  async record(records: AttemptRecord[], disableAfterMs: number): Promise<Set<string>> {
    const column = <T>(pick: (r: AttemptRecord) => T): T[] => records.map(pick);
    const params = [
      column((r) => r.deliveryId),
      column((r) => r.webhookId),
      column((r) => r.attemptedAt.toISOString()),
      column((r) => r.statusCode),
      column((r) => r.durationMs),
      column((r) => r.error),
      column((r) => r.responseBody),
      column((r) => r.next.status),
      column((r) => (r.next.status === 'pending' ? r.next.inMs : null)),
      column((r) => r.outcome),
      disableAfterMs,
    ];
    const rows = await retryOnConflict(() => this.db.query(RECORD_ATTEMPTS, params));
    return new Set(rows.map((r) => r.id));
  }
}
