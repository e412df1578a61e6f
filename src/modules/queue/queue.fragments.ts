import { isoSql } from '../webhooks/outbox.js';

/**
 * SQL fragments the queue's statements (queue.sql.ts) are composed of, at load time. Each takes
 * only a table alias or a constant expression, never a value; `src/queries/queue.sql` shows the
 * complete statements they make.
 */

/** The columns of JobRow, from a `jobs` row alias. */
export function jobColumns(a: string): string {
  return `${a}.id, ${a}.user_id, ${a}.type, ${a}.status, ${a}.priority, ${a}.input, ${a}.metadata, ${a}.attempts,
  ${a}.max_attempts, ${a}.cost, ${a}.error, ${a}.batch_id, ${a}.pipeline_run_id, ${a}.idempotency_key,
  ${a}.request_hash, ${a}.run_at, ${a}.created_at, ${a}.started_at, ${a}.finished_at, ${a}.created_at::text AS cursor_ts`;
}

/** The columns of a TransitionRow, from a `jobs` row alias `a` and the SQL of its previous status. */
export function transitionColumns(a: string, from: string): string {
  return `${a}.id, ${a}.user_id, ${a}.batch_id, ${a}.pipeline_run_id, ${a}.type, ${from} AS from_status,
  ${a}.status, ${a}.started_at, ${a}.finished_at`;
}

/** `counts` of the batch whose id is the column `idColumn`, from its job rows (index jobs_batch_id): never a counter that can drift. */
export function batchCounts(idColumn: string): string {
  return `(SELECT jsonb_build_object(
      'total', count(*),
      'queued', count(*) FILTER (WHERE status = 'queued'),
      'running', count(*) FILTER (WHERE status = 'running'),
      'completed', count(*) FILTER (WHERE status = 'completed'),
      'failed', count(*) FILTER (WHERE status = 'failed'),
      'cancelled', count(*) FILTER (WHERE status = 'cancelled'))
    FROM jobs WHERE batch_id = ${idColumn})`;
}

/** The `data` of batch.* events (the batch as GET /batches/{id} returns it), from a batches row alias. */
export function batchEventData(a: string): string {
  return `jsonb_build_object('id', ${a}.id, 'status', ${a}.status, 'counts', ${batchCounts(`${a}.id`)},
    'metadata', ${a}.metadata, 'createdAt', ${isoSql(`${a}.created_at`)},
    'completedAt', ${isoSql(`${a}.completed_at`)})`;
}

/** The `data` of pipeline.* events, from a pipeline_jobs row alias. */
export function runEventData(a: string): string {
  return `jsonb_build_object('id', ${a}.id, 'pipelineId', ${a}.pipeline_id, 'status', ${a}.status,
    'output', ${a}.output, 'error', ${a}.error, 'createdAt', ${isoSql(`${a}.created_at`)},
    'finishedAt', ${isoSql(`${a}.finished_at`)})`;
}

/**
 * A step's input: the previous output (or the run input) merged with the step's `params`,
 * params winning. A non-object output is passed as `{value: output}` so there is something to merge.
 */
export function mergedInput(previous: string, step: string): string {
  return `(CASE WHEN jsonb_typeof(${previous}) = 'object' THEN ${previous}
               ELSE jsonb_build_object('value', ${previous}) END
           || coalesce(${step} -> 'params', '{}'::jsonb))`;
}

/** The calendar month (UTC) usage is counted in: the key of `usage_monthly`. */
export const USAGE_MONTH = `date_trunc('month', now() AT TIME ZONE 'UTC')::date`;

/**
 * Adds `amount` credits to user `userId`'s month in `usage_monthly`, but only while the month's
 * total plus `needed` stays within `limit` (all SQL expressions); returns a row only when it
 * charged. The row lock of the upsert makes concurrent charges of one user queue, so they can never
 * together exceed the limit.
 */
export function chargeCredits(userId: string, amount: string, needed: string, limit: string): string {
  return `INSERT INTO usage_monthly AS m (user_id, month, credits)
     SELECT ${userId}, ${USAGE_MONTH}, ${amount} WHERE ${needed} <= ${limit}
     ON CONFLICT (user_id, month) DO UPDATE SET credits = m.credits + EXCLUDED.credits
      WHERE m.credits + ${needed} <= ${limit}
     RETURNING credits`;
}
