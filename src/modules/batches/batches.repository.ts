import { Injectable } from '@nestjs/common';
import type { Readable } from 'node:stream';
import type { Keyset } from '../../common/pagination/pagination.js';
import { Db } from '../../database/db.js';
import type { BatchStatus, JobFailure, JobStatus } from '../queue/queue.types.js';
import { BATCH_RESULTS, FIND_BATCH, LIST_BATCHES } from './batches.sql.js';

export interface BatchCounts {
  total: number;
  queued: number;
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
}

export interface BatchRow {
  id: string;
  user_id: string;
  status: BatchStatus;
  total: number;
  metadata: Record<string, unknown>;
  created_at: Date;
  completed_at: Date | null;
  counts: BatchCounts;
  cursor_ts: string;
}

export interface ResultRow {
  custom_id: string | null;
  id: string;
  status: JobStatus;
  output: unknown;
  error: JobFailure | null;
}

/** The Batches API's reads; creating and cancelling a batch is JobLifecycle's. */
@Injectable()
export class BatchesRepository {
  constructor(private readonly db: Db) {}

  /** From the primary: it follows the batch's creation or cancel as often as a plain GET. */
  /** `lagOk`: a plain read (GET), which a replica may serve; a write's own look-up reads the primary. */
  async find(userId: string, id: string, lagOk = false): Promise<BatchRow | undefined> {
    return (await (lagOk ? this.db.reader : this.db).query(FIND_BATCH, [id, userId]))[0];
  }

  list(userId: string, status: BatchStatus | undefined, limit: number, after?: Keyset): Promise<BatchRow[]> {
    return this.db.reader.query(LIST_BATCHES, [
      userId,
      status ?? null,
      after?.createdAt ?? null,
      after?.id ?? null,
      limit + 1,
    ]);
  }

  /**
   * The batch's items in upload order, as a stream read through a server-side cursor (500 rows at
   * a time) on a connection of its own, released when the stream ends, fails or is destroyed (a
   * client that hangs up). The caller has checked the batch is the user's.
   */
  streamResults(batchId: string, status: JobStatus | undefined): Promise<Readable> {
    return this.db.stream(BATCH_RESULTS, [batchId, status ?? null], 500);
  }
}
