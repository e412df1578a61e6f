import { sql } from '../../database/sql.js';
import type { PipelineRow, RunRow } from './pipelines.repository.js';

/** Pipeline definitions (this module's own table) and the reads of runs (whose writes are JobLifecycle's). */

const PIPELINE_COLUMNS = `id, name, description, steps, created_at, created_at::text AS cursor_ts`;
const RUN_COLUMNS = `r.id, r.pipeline_id, r.status, r.current_step, r.steps, r.output, r.error, r.metadata,
  r.created_at, r.finished_at, r.created_at::text AS cursor_ts,
  coalesce((SELECT jsonb_agg(jsonb_build_object('step', j.pipeline_step, 'id', j.id, 'status', j.status)
                              ORDER BY j.pipeline_step, j.created_at)
              FROM jobs j WHERE j.pipeline_run_id = r.id), '[]') AS jobs`;

export const INSERT_PIPELINE = sql<PipelineRow>(
  'pipelines.insert',
  `INSERT INTO pipelines (user_id, name, description, steps) VALUES ($1, $2, $3, $4) RETURNING ${PIPELINE_COLUMNS}`,
);

export const LIST_PIPELINES = sql<PipelineRow>(
  'pipelines.list',
  `SELECT ${PIPELINE_COLUMNS} FROM pipelines
    WHERE user_id = $1 AND deleted_at IS NULL
      AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
    ORDER BY created_at DESC, id DESC LIMIT $4`,
);

export const FIND_PIPELINE = sql<PipelineRow>(
  'pipelines.findById',
  `SELECT ${PIPELINE_COLUMNS} FROM pipelines WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL`,
);

/** Soft delete: runs in flight keep their snapshot of the steps and finish. */
export const DELETE_PIPELINE = sql<{ id: string }>(
  'pipelines.softDelete',
  `UPDATE pipelines SET deleted_at = now(), updated_at = now()
    WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL RETURNING id`,
);

export const FIND_RUN = sql<RunRow>(
  'pipelines.findRun',
  `SELECT ${RUN_COLUMNS} FROM pipeline_jobs r WHERE r.id = $1 AND r.user_id = $2`,
);

/**
 * A user's runs, newest first, with status `$2` when not NULL, after the keyset `($3, $4)` when
 * given: idx_pipeline_jobs_created_at, or idx_pipeline_jobs_status with a status.
 */
export const LIST_RUNS = sql<RunRow>(
  'pipelines.listRuns',
  `SELECT ${RUN_COLUMNS} FROM pipeline_jobs r
    WHERE r.user_id = $1 AND ($2::text IS NULL OR r.status = $2)
      AND ($3::timestamptz IS NULL OR (r.created_at, r.id) < ($3::timestamptz, $4::uuid))
    ORDER BY r.created_at DESC, r.id DESC LIMIT $5`,
);
