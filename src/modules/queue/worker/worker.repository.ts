import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { preparedQuery } from '../../../database/prepared.js';
import { retryOnConflict } from '../../../database/retry.js';
import { finishBatches } from '../../batches/batch.sql.js';
import { COMPLETE_STEP_SQL, stopRuns } from '../../pipelines/pipeline.sql.js';
import { eventType, jobEventData, outboxCtes } from '../../webhooks/outbox.js';
import { JOBS_CHANNEL } from '../../jobs/jobs.repository.js';

/** A job that ends `failed` emits job.failed; one going back to `queued` for a retry emits nothing. */
const FAILED_EVENT = `CASE WHEN s.status = 'failed' THEN ${eventType('job.failed')} END`;

export interface ClaimedJob {
  id: string;
  user_id: string;
  type: string;
  input: unknown;
  attempts: number;
  max_attempts: number;
  batch_id: string | null;
  pipeline_run_id: string | null;
}

export interface JobFailure {
  code: string;
  message: string;
}

/**
 * The queue's SQL. Every state change by a worker is guarded by `status = 'running' AND
 * locked_by = <this worker>`, so a worker that lost its lease (swept, cancelled) changes nothing.
 * TypeORM returns `[rows, count]` for a bare UPDATE or DELETE: statements whose rows we read run
 * the UPDATE/DELETE … RETURNING in a CTE and SELECT from it.
 *
 * Statements that pick rows with a locking subquery write `id = ANY(ARRAY(subquery))`, not a join
 * or `IN (subquery)`: the planner then fetches the picked rows by primary key. With a join, the
 * generic plan of the prepared claim hash-joined against a sequential scan of the whole table
 * (found by test/indexes.int.spec.ts at 120k rows).
 */
@Injectable()
export class WorkerRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /**
   * Claims up to `limit` due jobs, highest priority first, then oldest run_at; served by
   * idx_jobs_status (status, priority DESC, run_at). SKIP LOCKED lets many workers claim at once
   * without waiting on each other.
   */
  claim(workerId: string, limit: number, leaseMs: number): Promise<ClaimedJob[]> {
    return preparedQuery<ClaimedJob>(
      this.db,
      'worker_claim',
      `WITH claimed AS (
         UPDATE jobs
            SET status = 'running', attempts = attempts + 1, locked_by = $1,
                lease_expires_at = now() + make_interval(secs => $3::double precision / 1000),
                started_at = now(), updated_at = now()
          WHERE id = ANY(ARRAY(
                  SELECT id FROM jobs
                   WHERE status = 'queued' AND run_at <= now()
                   ORDER BY priority DESC, run_at
                   LIMIT $2
                   FOR UPDATE SKIP LOCKED))
         RETURNING *),
       ${outboxCtes('claimed', eventType('job.started'), jobEventData('s'))}
       SELECT id, user_id, type, input, attempts, max_attempts, batch_id, pipeline_run_id FROM claimed`,
      [workerId, limit, leaseMs],
    );
  }

  /** Extends the leases of the jobs this worker still holds; returns the ids it still holds. */
  async heartbeat(workerId: string, ids: string[], leaseMs: number): Promise<Set<string>> {
    const rows = await preparedQuery<{ id: string }>(
      this.db,
      'worker_heartbeat',
      `UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3::double precision / 1000)
        WHERE id = ANY($2::uuid[]) AND locked_by = $1 AND status = 'running'
       RETURNING id`,
      [workerId, ids, leaseMs],
    );
    return new Set(rows.map((r) => r.id));
  }

  /**
   * running → completed for many jobs of this worker at once, each with its one result row and
   * its job.completed event, in one statement (one commit). `json` is the output, serialized.
   * Returns the ids completed; a job missing from it was no longer ours (cancelled, swept).
   */
  async complete(workerId: string, jobs: Array<{ id: string; json: string }>): Promise<Set<string>> {
    const rows: Array<{ id: string }> = await retryOnConflict(() =>
      this.db.query(
        `WITH input AS (SELECT * FROM unnest($2::uuid[], $3::jsonb[]) AS i(id, output)),
       done AS (
         UPDATE jobs j SET status = 'completed', finished_at = now(), updated_at = now(), error = NULL,
                locked_by = NULL, lease_expires_at = NULL
           FROM input i
          WHERE j.id = i.id AND j.status = 'running' AND j.locked_by = $1
         RETURNING j.*, i.output AS result_output),
       -- idx_results_job_id is UNIQUE: even a bug elsewhere cannot give a job two results.
       result AS (
         INSERT INTO results (job_id, output) SELECT id, result_output FROM done ON CONFLICT (job_id) DO NOTHING),
       ${outboxCtes('done', eventType('job.completed'), `${jobEventData('s')} || jsonb_build_object('output', s.result_output)`)}
       SELECT id FROM done`,
        [workerId, jobs.map((j) => j.id), jobs.map((j) => j.json)],
      ),
    );
    return new Set(rows.map((r) => r.id));
  }

  /**
   * A failed attempt: back to queued after `retryInMs` while attempts remain and the error is
   * retryable; otherwise failed. Returns the new status, or undefined if the job was no longer ours.
   */
  async fail(
    workerId: string,
    id: string,
    error: JobFailure,
    retryInMs: number | undefined,
  ): Promise<'queued' | 'failed' | undefined> {
    const rows: Array<{ status: 'queued' | 'failed' }> = await this.db.query(
      `WITH failed AS (
         UPDATE jobs
            SET status = CASE WHEN $4::int IS NOT NULL AND attempts < max_attempts THEN 'queued' ELSE 'failed' END,
                run_at = CASE WHEN $4::int IS NOT NULL AND attempts < max_attempts
                              THEN now() + make_interval(secs => $4::double precision / 1000) ELSE run_at END,
                finished_at = CASE WHEN $4::int IS NOT NULL AND attempts < max_attempts THEN NULL ELSE now() END,
                error = $3, locked_by = NULL, lease_expires_at = NULL, updated_at = now()
          WHERE id = $1 AND status = 'running' AND locked_by = $2
          RETURNING *),
       ${outboxCtes('failed', FAILED_EVENT, jobEventData('s'))}
       SELECT status, CASE WHEN status = 'queued' THEN pg_notify('${JOBS_CHANNEL}', '') END FROM failed`,
      [id, workerId, JSON.stringify(error), retryInMs ?? null],
    );
    return rows[0]?.status;
  }

  /**
   * Gives jobs back to the queue on shutdown without charging an attempt: the job did nothing wrong.
   */
  async release(workerId: string, ids: string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const rows: unknown[] = await this.db.query(
      `WITH released AS (
         UPDATE jobs SET status = 'queued', attempts = greatest(attempts - 1, 0), run_at = now(),
                locked_by = NULL, lease_expires_at = NULL, updated_at = now()
          WHERE id = ANY($2::uuid[]) AND locked_by = $1 AND status = 'running'
          RETURNING id)
       SELECT id, pg_notify('${JOBS_CHANNEL}', '') FROM released`,
      [workerId, ids],
    );
    return rows.length;
  }

  /**
   * Re-queues jobs whose lease expired (their worker died), re-checking status and lease in the
   * same UPDATE so a job that finished meanwhile is left alone. The dead attempt counts: a job
   * that keeps killing its worker ends `failed` after max_attempts instead of looping forever.
   */
  async sweepExpired(): Promise<
    Array<{ id: string; status: string; batch_id: string | null; pipeline_run_id: string | null }>
  > {
    return this.db.query(
      `WITH swept AS (
         UPDATE jobs
            SET status = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END,
                finished_at = CASE WHEN attempts < max_attempts THEN NULL ELSE now() END,
                error = jsonb_build_object('code', 'LEASE_EXPIRED',
                          'message', 'The worker running this job stopped renewing its lease (crashed or hung)'),
                run_at = now(), locked_by = NULL, lease_expires_at = NULL, updated_at = now()
          WHERE id = ANY(ARRAY(
                  SELECT id FROM jobs WHERE status = 'running' AND lease_expires_at < now()
                     FOR UPDATE SKIP LOCKED))
            AND status = 'running' AND lease_expires_at < now()
         RETURNING *),
       ${outboxCtes('swept', FAILED_EVENT, jobEventData('s'))}
       SELECT id, status, batch_id, pipeline_run_id,
              CASE WHEN status = 'queued' THEN pg_notify('${JOBS_CHANNEL}', '') END
         FROM swept`,
    );
  }

  /**
   * Deletes up to `limit` finished standalone jobs created before `cutoff` (their results go by
   * cascade; usage records keep their credits with job_id set to NULL). Jobs of a batch or a
   * pipeline run are left alone: they go with their batch or run, never one by one. Served by
   * idx_jobs_created_at; returns how many were deleted.
   */
  async purgeJobs(cutoff: Date, limit: number): Promise<number> {
    const rows: unknown[] = await this.db.query(
      `WITH purged AS (
         DELETE FROM jobs WHERE id = ANY(ARRAY(
           SELECT id FROM jobs
            WHERE created_at < $1 AND status IN ('completed', 'failed', 'cancelled')
              AND batch_id IS NULL AND pipeline_run_id IS NULL
            ORDER BY created_at
            LIMIT $2
            FOR UPDATE SKIP LOCKED))
         RETURNING id)
       SELECT id FROM purged`,
      [cutoff, limit],
    );
    return rows.length;
  }

  /** Deletes up to `limit` results created before `cutoff`, oldest first; served by idx_results_created_at. */
  async purgeResults(cutoff: Date, limit: number): Promise<number> {
    const rows: unknown[] = await this.db.query(
      `WITH purged AS (
         DELETE FROM results WHERE id = ANY(ARRAY(
           SELECT id FROM results WHERE created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED))
         RETURNING id)
       SELECT id FROM purged`,
      [cutoff, limit],
    );
    return rows.length;
  }

  /**
   * Ends the given batches if none of their jobs is queued or running (with their batch.completed
   * event), or every such open batch when `batchIds` is undefined (the sweeper's repair pass).
   */
  async finishBatches(batchIds?: string[]): Promise<Array<{ id: string; status: string }>> {
    return finishBatches(this.db, batchIds);
  }

  /**
   * A pipeline step's completion: its result, and the next step's job or the run's completion, in
   * one statement (COMPLETE_STEP_SQL); `json` is the output, serialized. False if the job was no
   * longer ours.
   */
  async completeStep(workerId: string, id: string, json: string): Promise<boolean> {
    const rows: unknown[] = await this.db.query(COMPLETE_STEP_SQL, [id, workerId, json]);
    return rows.length > 0;
  }

  /** Ends the given running runs (all, when undefined) whose current step failed or was cancelled. */
  async stopRuns(runIds?: string[]): Promise<Array<{ id: string; status: string }>> {
    return stopRuns(this.db, runIds);
  }
}
