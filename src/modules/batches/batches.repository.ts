import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type pg from 'pg';
import QueryStream from 'pg-query-stream';
import { DataSource } from 'typeorm';
import type { Keyset } from '../../common/pagination/pagination.js';
import { JOB_CANCEL_CHANNEL, JOBS_CHANNEL, type JobStatus } from '../jobs/jobs.repository.js';
import { eventType, jobEventData, outboxCtes } from '../webhooks/outbox.js';
import type { BatchItem } from './batch-items.js';
import { batchCountsSql, batchEventData, finishBatches, type BatchStatus } from './batch.sql.js';

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
  error: { code: string; message: string } | null;
}

/** Rows per multi-row INSERT: 7 arrays of this length stay far below PostgreSQL's limits. */
const INSERT_CHUNK = 5000;

const BATCH_COLUMNS = (alias: string) => `${alias}.id, ${alias}.user_id, ${alias}.status, ${alias}.total,
  ${alias}.metadata, ${alias}.created_at, ${alias}.completed_at, ${alias}.created_at::text AS cursor_ts,
  ${batchCountsSql(`${alias}.id`)} AS counts`;

/** SQL of the Batches API. Every statement takes the owner. */
@Injectable()
export class BatchesRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /**
   * The batch, all its jobs and usage records, and its batch.created event, in one transaction;
   * the jobs in multi-row INSERTs of INSERT_CHUNK rows (unnest of arrays), not row by row.
   */
  create(userId: string, items: BatchItem[], metadata: Record<string, unknown>): Promise<BatchRow> {
    return this.db.transaction(async (tx) => {
      const [batch] = (await tx.query(
        `INSERT INTO batches (user_id, total, metadata) VALUES ($1, $2, $3) RETURNING id`,
        [userId, items.length, JSON.stringify(metadata)],
      )) as Array<{ id: string }>;
      for (let start = 0; start < items.length; start += INSERT_CHUNK) {
        const chunk = items.slice(start, start + INSERT_CHUNK);
        await tx.query(
          `WITH inserted AS (
             INSERT INTO jobs (user_id, batch_id, type, input, metadata, max_attempts, cost, custom_id, batch_item)
             SELECT $1, $2, t.type, t.input, t.metadata, t.max_attempts, t.cost, t.custom_id, t.item
               FROM unnest($3::text[], $4::jsonb[], $5::jsonb[], $6::int[], $7::int[], $8::text[], $9::int[])
                    AS t(type, input, metadata, max_attempts, cost, custom_id, item)
             RETURNING id, type, cost)
           INSERT INTO usage_records (user_id, job_id, job_type, credits) SELECT $1, id, type, cost FROM inserted`,
          [
            userId,
            batch.id,
            chunk.map((i) => i.type),
            chunk.map((i) => JSON.stringify(i.input)),
            chunk.map((i) => JSON.stringify(i.metadata)),
            chunk.map((i) => i.maxAttempts),
            chunk.map((i) => i.cost),
            chunk.map((i) => i.customId),
            chunk.map((i) => i.index),
          ],
        );
      }
      const rows = (await tx.query(
        `WITH created AS (SELECT * FROM batches WHERE id = $1),
         ${outboxCtes('created', eventType('batch.created'), batchEventData('s'))}
         SELECT ${BATCH_COLUMNS('c')}, pg_notify('${JOBS_CHANNEL}', '') FROM created c`,
        [batch.id],
      )) as BatchRow[];
      return rows[0];
    });
  }

  async find(userId: string, id: string): Promise<BatchRow | undefined> {
    const rows: BatchRow[] = await this.db.query(
      `SELECT ${BATCH_COLUMNS('b')} FROM batches b WHERE b.id = $1 AND b.user_id = $2`,
      [id, userId],
    );
    return rows[0];
  }

  list(userId: string, status: BatchStatus | undefined, limit: number, after?: Keyset): Promise<BatchRow[]> {
    return this.db.query(
      `SELECT ${BATCH_COLUMNS('b')} FROM batches b
        WHERE b.user_id = $1 AND ($2::text IS NULL OR b.status = $2)
          AND ($3::timestamptz IS NULL OR (b.created_at, b.id) < ($3::timestamptz, $4::uuid))
        ORDER BY b.created_at DESC, b.id DESC LIMIT $5`,
      [userId, status ?? null, after?.createdAt ?? null, after?.id ?? null, limit + 1],
    );
  }

  /**
   * Cancels every queued and running job of the batch (job.cancelled events included; running
   * handlers are told by NOTIFY to abort) and marks it `cancelling`; then ends it. Returns false
   * when the batch is not the user's or has already ended.
   */
  async cancel(userId: string, id: string): Promise<boolean> {
    const marked = await this.db.transaction(async (tx) => {
      const rows: unknown[] = await tx.query(
        `WITH marked AS (
           UPDATE batches SET status = 'cancelling', updated_at = now()
            WHERE id = $1 AND user_id = $2 AND status = 'in_progress' RETURNING id)
         SELECT id FROM marked`,
        [id, userId],
      );
      if (rows.length === 0) return false;
      await tx.query(
        `WITH running AS (SELECT id FROM jobs WHERE batch_id = $1 AND status = 'running'),
         cancelled AS (
           UPDATE jobs SET status = 'cancelled', finished_at = now(), updated_at = now(),
                  locked_by = NULL, lease_expires_at = NULL
            WHERE batch_id = $1 AND status IN ('queued', 'running')
           RETURNING *),
         ${outboxCtes('cancelled', eventType('job.cancelled'), jobEventData('s'))}
         SELECT (SELECT count(*) FROM cancelled) AS cancelled,
                (SELECT count(pg_notify('${JOB_CANCEL_CHANNEL}', id::text)) FROM running) AS aborted`,
        [id],
      );
      return true;
    });
    if (marked) await finishBatches(this.db, [id]);
    return marked;
  }

  /**
   * The batch's items in upload order, as a stream read through a server-side cursor
   * (pg-query-stream, 500 rows at a time) on a connection of its own, released when the stream
   * ends, fails or is destroyed (a client that hangs up).
   */
  async streamResults(batchId: string, status: JobStatus | undefined): Promise<NodeJS.ReadableStream> {
    const pool = (this.db.driver as unknown as { master: pg.Pool }).master;
    const client = await pool.connect();
    const stream = client.query(
      new QueryStream(
        `SELECT j.custom_id, j.id, j.status, r.output, j.error
           FROM jobs j LEFT JOIN results r ON r.job_id = j.id
          WHERE j.batch_id = $1 AND ($2::text IS NULL OR j.status = $2)
          ORDER BY j.batch_item`,
        [batchId, status ?? null],
        { batchSize: 500 },
      ),
    );
    let released = false;
    const release = (error?: Error): void => {
      if (released) return;
      released = true;
      client.release(error);
    };
    stream.once('end', () => release());
    stream.once('error', (error: Error) => release(error));
    stream.once('close', () => release());
    return stream;
  }
}
