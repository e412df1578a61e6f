import type { DataSource } from 'typeorm';
import { eventType, isoSql, jobEventData, outboxCtes } from '../webhooks/outbox.js';

export const RUN_STATUSES = ['running', 'completed', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** The `data` of pipeline.* events, from a pipeline_jobs row alias. */
export function runEventData(alias: string): string {
  return `jsonb_build_object('id', ${alias}.id, 'pipelineId', ${alias}.pipeline_id, 'status', ${alias}.status,
    'output', ${alias}.output, 'error', ${alias}.error, 'createdAt', ${isoSql(`${alias}.created_at`)},
    'finishedAt', ${isoSql(`${alias}.finished_at`)})`;
}

/**
 * A step's input: the previous output (or the run input) merged with the step's `params`,
 * params winning. A non-object output is passed as `{value: output}` so there is something to merge.
 */
export function mergedInputSql(previous: string, step: string): string {
  return `(CASE WHEN jsonb_typeof(${previous}) = 'object' THEN ${previous}
               ELSE jsonb_build_object('value', ${previous}) END
           || coalesce(${step} -> 'params', '{}'::jsonb))`;
}

/**
 * Completes a pipeline step in one statement, so one transaction: the job, its result and
 * job.completed; then either the next step's job (input = this output ⊕ its params), its usage
 * record and job.created, or — after the last step — the run `completed` with this output and
 * pipeline.completed. Only while the run is `running`: a cancelled or failed run starts nothing.
 * $1 job id, $2 worker id, $3 output.
 */
export const COMPLETE_STEP_SQL = `
  WITH done AS (
    UPDATE jobs SET status = 'completed', finished_at = now(), updated_at = now(), error = NULL,
           locked_by = NULL, lease_expires_at = NULL
     WHERE id = $1 AND status = 'running' AND locked_by = $2
    RETURNING *),
  result AS (INSERT INTO results (job_id, output) SELECT id, $3::jsonb FROM done ON CONFLICT (job_id) DO NOTHING),
  ${outboxCtes('done', eventType('job.completed'), `${jobEventData('s')} || jsonb_build_object('output', $3::jsonb)`, 'job_outbox')},
  run AS (
    SELECT r.id, r.user_id, r.steps, d.pipeline_step + 1 AS next_step,
           d.pipeline_step + 1 >= jsonb_array_length(r.steps) AS last
      FROM done d JOIN pipeline_jobs r ON r.id = d.pipeline_run_id AND r.status = 'running'),
  next_job AS (
    INSERT INTO jobs (user_id, type, input, max_attempts, cost, pipeline_run_id, pipeline_step)
    SELECT run.user_id, step ->> 'type', ${mergedInputSql('$3::jsonb', 'step')},
           (step ->> 'maxAttempts')::int, (step ->> 'cost')::int, run.id, run.next_step
      FROM run, LATERAL (SELECT run.steps -> run.next_step AS step) s
     WHERE NOT run.last
    RETURNING *),
  next_usage AS (
    INSERT INTO usage_records (user_id, job_id, job_type, credits) SELECT user_id, id, type, cost FROM next_job),
  ${outboxCtes('next_job', eventType('job.created'), jobEventData('s'), 'next_outbox')},
  run_update AS (
    UPDATE pipeline_jobs r
       SET current_step = CASE WHEN run.last THEN r.current_step ELSE run.next_step END,
           status = CASE WHEN run.last THEN 'completed' ELSE r.status END,
           output = CASE WHEN run.last THEN $3::jsonb ELSE r.output END,
           finished_at = CASE WHEN run.last THEN now() ELSE r.finished_at END,
           updated_at = now()
      FROM run WHERE r.id = run.id
    RETURNING r.*),
  ${outboxCtes('run_update', `CASE WHEN s.status = 'completed' THEN ${eventType('pipeline.completed')} END`, runEventData('s'), 'run_outbox')}
  SELECT d.id, (SELECT count(*) FROM next_job) AS started_next,
         (SELECT count(pg_notify('conveyor_jobs', '')) FROM next_job) AS notified
    FROM done d`;

/**
 * Ends the running runs of `$1` whose current step's job has ended without
 * completing: `failed` (with error STEP_FAILED and pipeline.failed) when the step failed for
 * good, `cancelled` when the step's job was cancelled on its own (POST /jobs/{id}/cancel).
 * Exactly once thanks to the status re-check. Run after the step's failure or cancel committed,
 * and by the sweeper as a repair pass (index pipeline_jobs_running).
 */
export const STOP_RUNS_SQL = `
  WITH stopped AS (
    UPDATE pipeline_jobs r
       SET status = CASE WHEN j.status = 'failed' THEN 'failed' ELSE 'cancelled' END,
           finished_at = now(), updated_at = now(),
           error = CASE WHEN j.status = 'failed' THEN jsonb_build_object('code', 'STEP_FAILED',
             'message', 'Step ' || (r.current_step + 1) || ' (' || (r.steps -> r.current_step ->> 'type') || ') failed: '
                        || coalesce(j.error ->> 'message', 'no message'),
             'step', r.current_step, 'jobId', j.id, 'jobError', j.error) END
      FROM jobs j
     WHERE r.id = ANY($1::uuid[])
       AND r.status = 'running'
       AND j.pipeline_run_id = r.id AND j.pipeline_step = r.current_step AND j.status IN ('failed', 'cancelled')
    RETURNING r.*),
  ${outboxCtes('stopped', `CASE WHEN s.status = 'failed' THEN ${eventType('pipeline.failed')} END`, runEventData('s'))}
  SELECT id, status FROM stopped`;

/**
 * Runs STOP_RUNS_SQL on the given runs (every running one when undefined) after locking them
 * (FOR UPDATE SKIP LOCKED), so its view of the jobs is taken after the lock — the same guard
 * against a concurrent retry as finishBatches.
 */
export function stopRuns(db: DataSource, ids?: string[]): Promise<Array<{ id: string; status: string }>> {
  return db.transaction(async (tx) => {
    const locked: Array<{ id: string }> = await tx.query(
      `SELECT id FROM pipeline_jobs WHERE ($1::uuid[] IS NULL OR id = ANY($1::uuid[])) AND status = 'running'
        FOR UPDATE SKIP LOCKED`,
      [ids ?? null],
    );
    if (locked.length === 0) return [];
    return tx.query(STOP_RUNS_SQL, [locked.map((r) => r.id)]);
  });
}
