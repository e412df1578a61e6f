import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Keyset } from '../../common/pagination/pagination.js';
import { JOB_CANCEL_CHANNEL, JOBS_CHANNEL, type JobStatus } from '../jobs/jobs.repository.js';
import { eventType, jobEventData, outboxCtes } from '../webhooks/outbox.js';
import type { RunStatus } from './pipeline.sql.js';

/** A step as a run snapshots it: the type's attempts and cost are fixed when the run starts. */
export interface RunStep {
  type: string;
  params?: Record<string, unknown>;
  maxAttempts: number;
  cost: number;
}

export interface PipelineRow {
  id: string;
  name: string;
  description: string | null;
  steps: Array<{ type: string; params?: Record<string, unknown> }>;
  created_at: Date;
  cursor_ts: string;
}

export interface RunRow {
  id: string;
  pipeline_id: string;
  status: RunStatus;
  current_step: number;
  steps: RunStep[];
  output: unknown;
  error: Record<string, unknown> | null;
  metadata: Record<string, unknown>;
  created_at: Date;
  finished_at: Date | null;
  cursor_ts: string;
  /** Each started step's job, by step index. */
  jobs: Array<{ step: number; id: string; status: JobStatus }>;
}

const PIPELINE_COLUMNS = `id, name, description, steps, created_at, created_at::text AS cursor_ts`;
const RUN_COLUMNS = (r: string) => `${r}.id, ${r}.pipeline_id, ${r}.status, ${r}.current_step, ${r}.steps,
  ${r}.output, ${r}.error, ${r}.metadata, ${r}.created_at, ${r}.finished_at, ${r}.created_at::text AS cursor_ts,
  coalesce((SELECT jsonb_agg(jsonb_build_object('step', j.pipeline_step, 'id', j.id, 'status', j.status)
                              ORDER BY j.pipeline_step, j.created_at)
              FROM jobs j WHERE j.pipeline_run_id = ${r}.id), '[]') AS jobs`;

/** SQL of pipelines and their runs. Every statement takes the owner. */
@Injectable()
export class PipelinesRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async insert(userId: string, name: string, description: string | null, steps: unknown): Promise<PipelineRow> {
    const rows: PipelineRow[] = await this.db.query(
      `INSERT INTO pipelines (user_id, name, description, steps) VALUES ($1, $2, $3, $4) RETURNING ${PIPELINE_COLUMNS}`,
      [userId, name, description, JSON.stringify(steps)],
    );
    return rows[0];
  }

  list(userId: string, limit: number, after?: Keyset): Promise<PipelineRow[]> {
    return this.db.query(
      `SELECT ${PIPELINE_COLUMNS} FROM pipelines
        WHERE user_id = $1 AND deleted_at IS NULL
          AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
        ORDER BY created_at DESC, id DESC LIMIT $4`,
      [userId, after?.createdAt ?? null, after?.id ?? null, limit + 1],
    );
  }

  async find(userId: string, id: string): Promise<PipelineRow | undefined> {
    const rows: PipelineRow[] = await this.db.query(
      `SELECT ${PIPELINE_COLUMNS} FROM pipelines WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL`,
      [id, userId],
    );
    return rows[0];
  }

  /** Soft delete: runs in flight keep their snapshot of the steps and finish. */
  async softDelete(userId: string, id: string): Promise<boolean> {
    const rows: unknown[] = await this.db.query(
      `WITH deleted AS (
         UPDATE pipelines SET deleted_at = now(), updated_at = now()
          WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL RETURNING id)
       SELECT id FROM deleted`,
      [id, userId],
    );
    return rows.length > 0;
  }

  /**
   * The run row and its first step's job (with usage record, job.created, NOTIFY), in one
   * statement. `input` is the first step's already merged and validated input.
   */
  async startRun(
    userId: string,
    pipelineId: string,
    steps: RunStep[],
    runInput: unknown,
    firstInput: unknown,
    metadata: Record<string, unknown>,
  ): Promise<RunRow> {
    const rows: Array<{ id: string }> = await this.db.query(
      `WITH run AS (
         INSERT INTO pipeline_jobs (user_id, pipeline_id, status, current_step, steps, input, metadata)
         VALUES ($1, $2, 'running', 0, $3, $4, $5) RETURNING *),
       first AS (
         INSERT INTO jobs (user_id, type, input, max_attempts, cost, pipeline_run_id, pipeline_step)
         SELECT $1, $6, $7, $8, $9, run.id, 0 FROM run RETURNING *),
       usage AS (INSERT INTO usage_records (user_id, job_id, job_type, credits) SELECT user_id, id, type, cost FROM first),
       ${outboxCtes('first', eventType('job.created'), jobEventData('s'))}
       SELECT run.id, pg_notify('${JOBS_CHANNEL}', '') FROM run`,
      [
        userId,
        pipelineId,
        JSON.stringify(steps),
        JSON.stringify(runInput),
        JSON.stringify(metadata),
        steps[0].type,
        JSON.stringify(firstInput),
        steps[0].maxAttempts,
        steps[0].cost,
      ],
    );
    return (await this.findRun(userId, rows[0].id))!;
  }

  async findRun(userId: string, id: string): Promise<RunRow | undefined> {
    const rows: RunRow[] = await this.db.query(
      `SELECT ${RUN_COLUMNS('r')} FROM pipeline_jobs r WHERE r.id = $1 AND r.user_id = $2`,
      [id, userId],
    );
    return rows[0];
  }

  /** Newest first; idx_pipeline_jobs_created_at, or idx_pipeline_jobs_status with a status. */
  listRuns(userId: string, status: RunStatus | undefined, limit: number, after?: Keyset): Promise<RunRow[]> {
    const where = ['r.user_id = $1'];
    const params: unknown[] = [userId];
    if (status) {
      params.push(status);
      where.push(`r.status = $${params.length}`);
    }
    if (after) {
      params.push(after.createdAt, after.id);
      where.push(`(r.created_at, r.id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
    params.push(limit + 1);
    return this.db.query(
      `SELECT ${RUN_COLUMNS('r')} FROM pipeline_jobs r WHERE ${where.join(' AND ')}
        ORDER BY r.created_at DESC, r.id DESC LIMIT $${params.length}`,
      params,
    );
  }

  /** running → cancelled, cancelling its queued or running step (whose handler is told to abort). */
  async cancelRun(userId: string, id: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      // Lock the step's job before the run: the order a completing step takes (job, then run),
      // so a cancel racing a completion waits instead of deadlocking.
      await tx.query(
        `SELECT id FROM jobs WHERE pipeline_run_id = $1 AND user_id = $2 AND status IN ('queued', 'running') FOR UPDATE`,
        [id, userId],
      );
      const rows: unknown[] = await tx.query(
        `WITH run AS (
         UPDATE pipeline_jobs SET status = 'cancelled', finished_at = now(), updated_at = now()
          WHERE id = $1 AND user_id = $2 AND status = 'running' RETURNING id),
       running AS (SELECT id FROM jobs WHERE pipeline_run_id = $1 AND status = 'running'),
       cancelled AS (
         UPDATE jobs SET status = 'cancelled', finished_at = now(), updated_at = now(),
                locked_by = NULL, lease_expires_at = NULL
          WHERE pipeline_run_id = (SELECT id FROM run) AND status IN ('queued', 'running')
         RETURNING *),
       ${outboxCtes('cancelled', eventType('job.cancelled'), jobEventData('s'))}
       SELECT run.id, (SELECT count(pg_notify('${JOB_CANCEL_CHANNEL}', id::text)) FROM running) FROM run`,
        [id, userId],
      );
      return rows.length > 0;
    });
  }
}
