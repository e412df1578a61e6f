import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Keyset } from '../../common/pagination/pagination.js';
import { finishBatches } from '../batches/batch.sql.js';
import { stopRuns } from '../pipelines/pipeline.sql.js';
import { eventType, jobEventData, outboxCtes } from '../webhooks/outbox.js';

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
export const JOB_STATUSES: JobStatus[] = ['queued', 'running', 'completed', 'failed', 'cancelled'];

/** Channel the worker LISTENs on: a job became due (payload unused). */
export const JOBS_CHANNEL = 'conveyor_jobs';
/** Channel carrying the id of a job cancelled while it may be running, so its worker aborts it. */
export const JOB_CANCEL_CHANNEL = 'conveyor_job_cancel';

export interface JobRow {
  id: string;
  user_id: string;
  type: string;
  status: JobStatus;
  priority: number;
  input: unknown;
  metadata: Record<string, unknown>;
  attempts: number;
  max_attempts: number;
  cost: number;
  error: { code: string; message: string } | null;
  batch_id: string | null;
  pipeline_run_id: string | null;
  idempotency_key: string | null;
  request_hash: string | null;
  run_at: Date;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  cursor_ts: string;
}

export const JOB_COLUMNS = `id, user_id, type, status, priority, input, metadata, attempts, max_attempts, cost, error,
  batch_id, pipeline_run_id, idempotency_key, request_hash, run_at, created_at, started_at, finished_at,
  created_at::text AS cursor_ts`;

export interface NewJob {
  userId: string;
  type: string;
  input: unknown;
  priority: number;
  runAt: Date | null;
  maxAttempts: number;
  metadata: Record<string, unknown>;
  cost: number;
  idempotencyKey: string | null;
  requestHash: string | null;
}

export interface JobFilters {
  status?: JobStatus;
  type?: string;
  batchId?: string;
  createdAfter?: Date;
  createdBefore?: Date;
}

/** SQL for the Jobs API. Every read by id takes the owner. The worker's SQL is in worker/worker.repository.ts. */
@Injectable()
export class JobsRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /**
   * Inserts a job, its job.created event (outbox), its usage record and the wake-up NOTIFY in one transaction. With an idempotency
   * key that was already used by this user, inserts nothing and returns undefined.
   */
  insert(job: NewJob): Promise<JobRow | undefined> {
    return this.db.transaction(async (tx) => {
      const rows: JobRow[] = await tx.query(
        `WITH inserted AS (
           INSERT INTO jobs (user_id, type, input, priority, run_at, max_attempts, metadata, cost, idempotency_key, request_hash)
           VALUES ($1, $2, $3, $4, coalesce($5, now()), $6, $7, $8, $9, $10)
           ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
           RETURNING *),
         ${outboxCtes('inserted', eventType('job.created'), jobEventData('s'))}
         SELECT ${JOB_COLUMNS} FROM inserted`,
        [
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
        ],
      );
      const row = rows[0];
      if (!row) return undefined;
      await tx.query(`INSERT INTO usage_records (user_id, job_id, job_type, credits) VALUES ($1, $2, $3, $4)`, [
        job.userId,
        row.id,
        job.type,
        job.cost,
      ]);
      await tx.query(`SELECT pg_notify('${JOBS_CHANNEL}', '')`);
      return row;
    });
  }

  async findByIdempotencyKey(userId: string, key: string): Promise<JobRow | undefined> {
    const rows: JobRow[] = await this.db.query(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE user_id = $1 AND idempotency_key = $2`,
      [userId, key],
    );
    return rows[0];
  }

  async findById(userId: string, id: string): Promise<JobRow | undefined> {
    const rows: JobRow[] = await this.db.query(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1 AND user_id = $2`, [
      id,
      userId,
    ]);
    return rows[0];
  }

  /** A user's jobs, newest first; served by idx_jobs_user_id or, with a status, idx_jobs_user_status. */
  async list(userId: string, filters: JobFilters, limit: number, after?: Keyset): Promise<JobRow[]> {
    const where = ['user_id = $1'];
    const params: unknown[] = [userId];
    const add = (sql: string, value: unknown): void => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (filters.status) add('status = ?', filters.status);
    if (filters.type) add('type = ?', filters.type);
    if (filters.batchId) add('batch_id = ?', filters.batchId);
    if (filters.createdAfter) add('created_at > ?', filters.createdAfter);
    if (filters.createdBefore) add('created_at < ?', filters.createdBefore);
    if (after) {
      params.push(after.createdAt, after.id);
      where.push(`(created_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
    params.push(limit + 1);
    return this.db.query(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE ${where.join(' AND ')}
        ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
  }

  async findResult(userId: string, jobId: string): Promise<{ output: unknown; created_at: Date } | undefined> {
    const rows: Array<{ output: unknown; created_at: Date }> = await this.db.query(
      `SELECT r.output, r.created_at FROM results r JOIN jobs j ON j.id = r.job_id
        WHERE r.job_id = $1 AND j.user_id = $2`,
      [jobId, userId],
    );
    return rows[0];
  }

  /** queued|running → cancelled, with its job.cancelled event. The NOTIFY (on commit) tells the worker running it to abort. */
  async cancel(userId: string, id: string): Promise<JobRow | undefined> {
    const rows: JobRow[] = await this.db.query(
      `WITH cancelled AS (
         UPDATE jobs SET status = 'cancelled', finished_at = now(), updated_at = now(),
                locked_by = NULL, lease_expires_at = NULL
          WHERE id = $1 AND user_id = $2 AND status IN ('queued', 'running')
          RETURNING *),
       ${outboxCtes('cancelled', eventType('job.cancelled'), jobEventData('s'))}
       SELECT ${JOB_COLUMNS}, pg_notify('${JOB_CANCEL_CHANNEL}', id::text) FROM cancelled`,
      [id, userId],
    );
    return rows[0];
  }

  /** failed|cancelled → queued, with a fresh set of attempts (not in an ended batch or pipeline run). */
  async retry(userId: string, id: string): Promise<JobRow | undefined> {
    const rows: JobRow[] = await this.db.query(
      `WITH retried AS (
         UPDATE jobs SET status = 'queued', attempts = 0, error = NULL, run_at = now(), started_at = NULL,
                finished_at = NULL, updated_at = now()
          WHERE id = $1 AND user_id = $2 AND status IN ('failed', 'cancelled')
            -- A job of a batch or pipeline run that has ended stays as it ended: the batch's
            -- counts and its one batch.completed, or the run's outcome, are final.
            -- FOR SHARE holds the batch or run until this commits, so a concurrent finishBatches /
            -- stopRuns either sees the re-queued job or makes this retry find the parent ended.
            AND (batch_id IS NULL OR EXISTS (
                  SELECT 1 FROM batches b WHERE b.id = jobs.batch_id AND b.status = 'in_progress' FOR SHARE))
            AND (pipeline_run_id IS NULL OR EXISTS (
                  SELECT 1 FROM pipeline_jobs r WHERE r.id = jobs.pipeline_run_id AND r.status = 'running' FOR SHARE))
          RETURNING *)
       SELECT ${JOB_COLUMNS}, pg_notify('${JOBS_CHANNEL}', '') FROM retried`,
      [id, userId],
    );
    return rows[0];
  }

  /** Ends the batch if this was its last queued or running job (see finishBatches). */
  async finishBatch(batchId: string): Promise<void> {
    await finishBatches(this.db, [batchId]);
  }

  /** Ends the pipeline run whose current step this cancelled job was (see stopRuns). */
  async stopRun(runId: string): Promise<void> {
    await stopRuns(this.db, [runId]);
  }
}
