import { sql } from '../../database/sql.js';
import { eventType, jobEventData, outboxCtes } from '../webhooks/outbox.js';
import {
  batchEventData,
  chargeCredits,
  USAGE_MONTH,
  jobColumns,
  mergedInput,
  runEventData,
  transitionColumns,
} from './queue.fragments.js';
import {
  JOB_CANCEL_CHANNEL,
  JOB_CHANGES_CHANNEL,
  JOBS_CHANNEL,
  type ClaimedJob,
  type JobRow,
  type JobStatus,
} from './queue.types.js';

/**
 * Every statement that writes a job's status, its result, its usage record, a batch's or a
 * pipeline run's status, or their webhook events (the outbox CTEs, in the same statement as the
 * change). Nothing else in Conveyor writes those; `src/queries/queue.sql` shows them in full.
 *
 * Conventions:
 * - A worker's writes are guarded by `status = 'running' AND locked_by = <worker>`, so a worker
 *   that lost its lease (swept, cancelled) changes nothing.
 * - Statements that pick rows with a locking subquery write `id = ANY(ARRAY(subquery))`, not a
 *   join or `IN (subquery)`: the planner then fetches the picked rows by primary key (with a join,
 *   the claim's generic plan seq-scanned the table; test/indexes.int.spec.ts).
 * - Where the previous status is not implied by the WHERE, a `target` CTE locks the rows
 *   (FOR UPDATE) and reads it: in a data-modifying statement every other part sees the snapshot
 *   from the statement's start, which a concurrent commit may have made stale.
 * - Every statement that changes jobs returns TransitionRows: the change feed's input (JobChanges
 *   publishes them after the commit, here and, by NOTIFY_CHANGES, to the other instances).
 */

/** What a transition statement returns per job: JobChanges turns it into a JobTransition. */
export interface TransitionRow {
  id: string;
  user_id: string;
  batch_id: string | null;
  pipeline_run_id: string | null;
  type: string;
  from_status: JobStatus | null;
  status: JobStatus;
  started_at: Date | null;
  finished_at: Date | null;
}

export interface ParentRow {
  id: string;
  user_id: string;
  status: string;
}

/** A job that ends `failed` emits job.failed; one going back to `queued` for a retry emits nothing. */
const FAILED_EVENT = `CASE WHEN s.status = 'failed' THEN ${eventType('job.failed')} END`;

// ---- enqueue -------------------------------------------------------------------------------

/** What an enqueueing statement says about the credits it charged (see chargeCredits). */
export interface ChargeColumns {
  /** The month's credits before this statement (0 when none yet). */
  used_before: string;
  /** Whether the credits were charged (within the limit). */
  charged: boolean;
}

/**
 * A job, its credits (`$8`, within the month's limit `$11`), its usage record, job.created and
 * the workers' wake-up, in one statement. Always returns one row: without a job when the credits
 * would pass the limit (`charged` false), or when this user already used the idempotency key
 * (`charged` true: JobLifecycle gives the credits back).
 */
export const ENQUEUE = sql<Partial<JobRow & TransitionRow> & ChargeColumns>(
  'queue.enqueue',
  `WITH charged AS (
     ${chargeCredits('$1::uuid', '$8::int', '$8::int', '$11::bigint')}),
   inserted AS (
     INSERT INTO jobs (user_id, type, input, priority, run_at, max_attempts, metadata, cost, idempotency_key, request_hash)
     SELECT $1, $2, $3, $4, coalesce($5, now()), $6, $7, $8, $9, $10 WHERE EXISTS (SELECT 1 FROM charged)
     ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
     RETURNING *),
   usage AS (
     INSERT INTO usage_records (user_id, job_id, job_type, credits) SELECT user_id, id, type, cost FROM inserted),
   ${outboxCtes('inserted', eventType('job.created'), jobEventData('s'))}
   SELECT ${jobColumns('i')}, NULL AS from_status,
          coalesce((SELECT credits FROM usage_monthly WHERE user_id = $1 AND month = ${USAGE_MONTH}), 0) AS used_before,
          EXISTS (SELECT 1 FROM charged) AS charged,
          CASE WHEN i.id IS NOT NULL THEN pg_notify('${JOBS_CHANNEL}', '') END
     FROM (SELECT 1) one LEFT JOIN inserted i ON true`,
);

/** A batch's credits (`$2`, the sum of its jobs' costs) within the month's limit `$3`; a row only when charged. */
export const CHARGE_CREDITS = sql<{ credits: string }>(
  'queue.chargeCredits',
  chargeCredits('$1::uuid', '$2::int', '$2::int', '$3::bigint'),
);

/** Whether user `$1` has a job with Idempotency-Key `$2` (a refused enqueue may be a replay). */
export const IDEMPOTENCY_KEY_USED = sql<{ used: boolean }>(
  'queue.idempotencyKeyUsed',
  `SELECT true AS used FROM jobs WHERE user_id = $1 AND idempotency_key = $2`,
);

/** Gives back credits charged for a job that was not created after all (an idempotency key already used). */
export const REFUND_CREDITS = sql<{ credits: string }>(
  'queue.refundCredits',
  `UPDATE usage_monthly SET credits = credits - $2 WHERE user_id = $1 AND month = ${USAGE_MONTH} RETURNING credits`,
);

/** The credits user `$1` used this month (0 when none yet). */
export const CREDITS_USED = sql<{ used: string }>(
  'queue.creditsUsed',
  `SELECT coalesce((SELECT credits FROM usage_monthly WHERE user_id = $1 AND month = ${USAGE_MONTH}), 0) AS used`,
);

export const INSERT_BATCH = sql<{ id: string }>(
  'queue.insertBatch',
  `INSERT INTO batches (user_id, total, metadata) VALUES ($1, $2, $3) RETURNING id`,
);

/** Up to BATCH_INSERT_CHUNK jobs of a batch and their usage records: one multi-row INSERT from arrays. */
export const INSERT_BATCH_JOBS = sql<{ id: string; type: string }>(
  'queue.insertBatchJobs',
  `WITH inserted AS (
     INSERT INTO jobs (user_id, batch_id, type, input, metadata, max_attempts, cost, custom_id, batch_item)
     SELECT $1, $2, t.type, t.input, t.metadata, t.max_attempts, t.cost, t.custom_id, t.item
       FROM unnest($3::text[], $4::jsonb[], $5::jsonb[], $6::int[], $7::int[], $8::text[], $9::int[])
            AS t(type, input, metadata, max_attempts, cost, custom_id, item)
     RETURNING id, user_id, type, cost),
   usage AS (
     INSERT INTO usage_records (user_id, job_id, job_type, credits) SELECT user_id, id, type, cost FROM inserted)
   SELECT id, type FROM inserted`,
);

/** A new batch's batch.created event and the workers' wake-up, once its jobs are in. */
export const BATCH_CREATED = sql<{ id: string }>(
  'queue.batchCreated',
  `WITH created AS (SELECT * FROM batches WHERE id = $1),
   ${outboxCtes('created', eventType('batch.created'), batchEventData('s'))}
   SELECT id, pg_notify('${JOBS_CHANNEL}', '') FROM created`,
);

/**
 * A pipeline run and its first step's job (usage record, job.created, wake-up), in one statement,
 * admitted only if the whole run's cost (`$10`) fits in what is left of the month's credits
 * (`$11`). The whole cost is charged now: the first step's (`$9`) with its usage record, the rest
 * held on the run (`credits_held`), taken by each later step as it starts (COMPLETE_STEP) and
 * given back by a run that ends early (STOP_RUNS, CANCEL_RUN). Always returns one row; `run_id`
 * is null when the run was refused.
 */
export const START_RUN = sql<{ run_id: string | null } & Partial<TransitionRow> & ChargeColumns>(
  'queue.startRun',
  `WITH charged AS (
     ${chargeCredits('$1::uuid', '$10::int', '$10::int', '$11::bigint')}),
   run AS (
     INSERT INTO pipeline_jobs (user_id, pipeline_id, status, current_step, steps, input, metadata, credits_held, credits_month)
     SELECT $1, $2, 'running', 0, $3, $4, $5, $10::int - $9::int, ${USAGE_MONTH}
      WHERE EXISTS (SELECT 1 FROM charged) RETURNING *),
   first AS (
     INSERT INTO jobs (user_id, type, input, max_attempts, cost, pipeline_run_id, pipeline_step)
     SELECT $1, $6, $7, $8, $9, run.id, 0 FROM run RETURNING *),
   usage AS (INSERT INTO usage_records (user_id, job_id, job_type, credits) SELECT user_id, id, type, cost FROM first),
   ${outboxCtes('first', eventType('job.created'), jobEventData('s'))}
   SELECT f.pipeline_run_id AS run_id, ${transitionColumns('f', 'NULL')},
          coalesce((SELECT credits FROM usage_monthly WHERE user_id = $1 AND month = ${USAGE_MONTH}), 0) AS used_before,
          EXISTS (SELECT 1 FROM charged) AS charged,
          CASE WHEN f.id IS NOT NULL THEN pg_notify('${JOBS_CHANNEL}', '') END
     FROM (SELECT 1) one LEFT JOIN first f ON true`,
);

// ---- the worker ----------------------------------------------------------------------------

/** The running cap of the user `$alias.user_id`, by tier ($4 free, $5 pro, $6 enterprise). */
const userCap = (alias: string): string => `(SELECT CASE u.tier WHEN 'enterprise' THEN $6::int WHEN 'pro' THEN $5::int
      ELSE $4::int END FROM users u WHERE u.id = ${alias}.user_id)`;

/**
 * The running jobs of the user `$alias.user_id` (idx_jobs_user_status: as many probes as they
 * have), counted by claim_running_jobs (migration 7): after the claim lock, in a new snapshot,
 * so that claims made at the same instant see each other's jobs.
 */
const userRunning = (alias: string): string => `claim_running_jobs(${alias}.user_id)`;

/**
 * Claims up to `$2` due jobs for worker `$1` (lease `$3` ms), highest priority first, then oldest
 * run_at; served by idx_jobs_status (status, priority DESC, run_at). SKIP LOCKED lets many
 * workers claim at once without waiting on each other.
 *
 * Fair use: a user may have at most their tier's cap of jobs running at once, across all workers
 * ($4 free, $5 pro, $6 enterprise), so one user's backlog cannot fill every slot and hold other
 * users' jobs back.
 * - The head of the queue is taken as it is when it passes no user's cap (the usual case: the
 *   check costs one count of running jobs per user in the head).
 * - Otherwise the claim goes user by user: a loose scan of idx_jobs_queued_user finds each user
 *   with queued jobs (one index probe each), and each user with room offers their best jobs, no
 *   more than their room; the best of those are claimed. Its cost grows with the number of users
 *   waiting, never with the length of a capped user's backlog (scanning past a capped user's
 *   100,000 queued jobs cost 15 ms a claim).
 * - The counts of running jobs wait for a claim in progress and see its jobs (see
 *   claim_running_jobs): the caps hold exactly with any number of workers.
 * A claim that finds fewer jobs than slots is followed by another (see JobWorkerService).
 */
export const CLAIM = sql<ClaimedJob & TransitionRow>(
  'queue.claim',
  `WITH RECURSIVE
   head AS (
     SELECT id, user_id FROM jobs
      WHERE status = 'queued' AND run_at <= now()
      ORDER BY priority DESC, run_at
      LIMIT $2
      FOR UPDATE SKIP LOCKED),
   fast AS (
     SELECT NOT EXISTS (
       SELECT 1 FROM (SELECT user_id, count(*)::int AS taken FROM head GROUP BY user_id) h
        WHERE h.taken + ${userRunning('h')} > ${userCap('h')}) AS ok),
   queued_users (user_id) AS (
     (SELECT user_id FROM jobs WHERE status = 'queued' AND NOT (SELECT ok FROM fast) ORDER BY user_id LIMIT 1)
     UNION ALL
     SELECT (SELECT j.user_id FROM jobs j WHERE j.status = 'queued' AND j.user_id > q.user_id
              ORDER BY j.user_id LIMIT 1)
       FROM queued_users q WHERE q.user_id IS NOT NULL),
   room AS (
     SELECT q.user_id, ${userCap('q')} - ${userRunning('q')} AS room
       FROM queued_users q WHERE q.user_id IS NOT NULL),
   candidates AS (
     SELECT c.id FROM room, LATERAL (
         SELECT id, priority, run_at FROM jobs
          WHERE status = 'queued' AND user_id = room.user_id AND run_at <= now()
          ORDER BY priority DESC, run_at
          LIMIT least(room.room, $2)) c
      WHERE room.room > 0
      ORDER BY c.priority DESC, c.run_at
      LIMIT $2 * 2),
   -- Each user's candidates are within their room, so any of them may be taken; twice the claim
   -- so that rows another worker holds can be skipped.
   fair AS (
     SELECT id FROM jobs
      WHERE id = ANY(ARRAY(SELECT id FROM candidates)) AND status = 'queued' AND run_at <= now()
      ORDER BY priority DESC, run_at
      LIMIT $2
      FOR UPDATE SKIP LOCKED),
   claimed AS (
     UPDATE jobs
        SET status = 'running', attempts = attempts + 1, locked_by = $1,
            lease_expires_at = now() + make_interval(secs => $3::double precision / 1000),
            started_at = now(), updated_at = now()
      WHERE id = ANY(ARRAY(SELECT id FROM head WHERE (SELECT ok FROM fast) UNION ALL SELECT id FROM fair))
     RETURNING *),
   ${outboxCtes('claimed', eventType('job.started'), jobEventData('s'))}
   SELECT ${transitionColumns('c', `'queued'`)}, c.input, c.attempts, c.max_attempts
     FROM claimed c`,
  { prepare: true },
);

/** Extends the leases of the jobs this worker still holds; returns the ids it still holds. */
export const HEARTBEAT = sql<{ id: string }>(
  'queue.heartbeat',
  `UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3::double precision / 1000)
    WHERE id = ANY($2::uuid[]) AND locked_by = $1 AND status = 'running'
   RETURNING id`,
  { prepare: true },
);

/**
 * running → completed for many jobs of worker `$1` at once (ids `$2`, outputs `$3`), each with
 * its one result row and its job.completed event, in one statement (one commit).
 */
export const COMPLETE = sql<TransitionRow>(
  'queue.complete',
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
   SELECT ${transitionColumns('d', `'running'`)}
     FROM done d`,
);

/**
 * A pipeline step's completion (job `$1`, worker `$2`, output `$3`), in one statement: the job,
 * its result and job.completed; then, only while the run is `running`, either the next step's job
 * (input = this output ⊕ its params), its usage record, job.created and the wake-up, or — after
 * the last step — the run `completed` with this output and pipeline.completed. Returns the
 * completed job's transition and the next job's, if any.
 */
export const COMPLETE_STEP = sql<TransitionRow & { run_completed: boolean }>(
  'queue.completeStep',
  `WITH done AS (
     UPDATE jobs SET status = 'completed', finished_at = now(), updated_at = now(), error = NULL,
            locked_by = NULL, lease_expires_at = NULL
      WHERE id = $1 AND status = 'running' AND locked_by = $2
     RETURNING *),
   result AS (INSERT INTO results (job_id, output) SELECT id, $3::jsonb FROM done ON CONFLICT (job_id) DO NOTHING),
   ${outboxCtes('done', eventType('job.completed'), `${jobEventData('s')} || jsonb_build_object('output', $3::jsonb)`, 'job_outbox')},
   run AS (
     SELECT r.id, r.user_id, r.steps, r.credits_held, r.credits_month, d.pipeline_step + 1 AS next_step,
            d.pipeline_step + 1 >= jsonb_array_length(r.steps) AS last
       FROM done d JOIN pipeline_jobs r ON r.id = d.pipeline_run_id AND r.status = 'running'),
   next_job AS (
     INSERT INTO jobs (user_id, type, input, max_attempts, cost, pipeline_run_id, pipeline_step)
     SELECT run.user_id, step ->> 'type', ${mergedInput('$3::jsonb', 'step')},
            (step ->> 'maxAttempts')::int, (step ->> 'cost')::int, run.id, run.next_step
       FROM run, LATERAL (SELECT run.steps -> run.next_step AS step) s
      WHERE NOT run.last
     RETURNING *),
   next_usage AS (
     INSERT INTO usage_records (user_id, job_id, job_type, credits) SELECT user_id, id, type, cost FROM next_job),
   -- The run was admitted whole (START_RUN): a later step is never refused. Its cost comes out of
   -- the run's hold, charged at admission; only what the hold does not cover is charged now (all of
   -- it for a run admitted before the hold existed, which holds 0).
   next_charge AS (
     INSERT INTO usage_monthly AS m (user_id, month, credits)
     SELECT n.user_id, ${USAGE_MONTH}, n.cost - run.credits_held FROM next_job n, run WHERE n.cost > run.credits_held
     ON CONFLICT (user_id, month) DO UPDATE SET credits = m.credits + EXCLUDED.credits),
   -- The last step: whatever is still held goes back (nothing, unless a step was charged apart
   -- from the hold, e.g. by a worker of the version before it during a rolling update).
   last_refund AS (
     UPDATE usage_monthly m SET credits = m.credits - run.credits_held
       FROM run WHERE run.last AND run.credits_held > 0 AND m.user_id = run.user_id AND m.month = run.credits_month),
   ${outboxCtes('next_job', eventType('job.created'), jobEventData('s'), 'next_outbox')},
   run_update AS (
     UPDATE pipeline_jobs r
        SET current_step = CASE WHEN run.last THEN r.current_step ELSE run.next_step END,
            status = CASE WHEN run.last THEN 'completed' ELSE r.status END,
            output = CASE WHEN run.last THEN $3::jsonb ELSE r.output END,
            finished_at = CASE WHEN run.last THEN now() ELSE r.finished_at END,
            credits_held = CASE WHEN run.last THEN 0
                                ELSE greatest(0, r.credits_held - coalesce((SELECT cost FROM next_job), 0)) END,
            updated_at = now()
       FROM run WHERE r.id = run.id
     RETURNING r.*),
   ${outboxCtes('run_update', `CASE WHEN s.status = 'completed' THEN ${eventType('pipeline.completed')} END`, runEventData('s'), 'run_outbox')},
   ended_run AS (SELECT * FROM run_update WHERE status = 'completed')
   SELECT ${transitionColumns('d', `'running'`)},
          (SELECT count(pg_notify('${JOBS_CHANNEL}', '')) FROM next_job) AS woken,
          EXISTS (SELECT 1 FROM ended_run) AS run_completed
     FROM done d
   UNION ALL
   SELECT ${transitionColumns('n', 'NULL')}, 0, false FROM next_job n`,
);

/**
 * A failed attempt of job `$1` by worker `$2` with error `$3`: back to `queued` after `$4` ms
 * while attempts remain and `$4` is given (the error is retryable); otherwise `failed`.
 */
export const FAIL = sql<TransitionRow>(
  'queue.fail',
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
   SELECT ${transitionColumns('f', `'running'`)},
          CASE WHEN f.status = 'queued' THEN pg_notify('${JOBS_CHANNEL}', '') END
     FROM failed f`,
);

/** Gives jobs back to the queue on shutdown without charging an attempt: the job did nothing wrong. */
export const RELEASE = sql<TransitionRow>(
  'queue.release',
  `WITH released AS (
     UPDATE jobs SET status = 'queued', attempts = greatest(attempts - 1, 0), run_at = now(),
            locked_by = NULL, lease_expires_at = NULL, updated_at = now()
      WHERE id = ANY($2::uuid[]) AND locked_by = $1 AND status = 'running'
      RETURNING *)
   SELECT ${transitionColumns('r', `'running'`)}, pg_notify('${JOBS_CHANNEL}', '')
     FROM released r`,
);

// ---- the sweeper ---------------------------------------------------------------------------

/**
 * Re-queues jobs whose lease expired (their worker died), re-checking status and lease in the
 * same UPDATE so a job that finished meanwhile is left alone. The dead attempt counts: a job
 * that keeps killing its worker ends `failed` after max_attempts instead of looping forever.
 */
export const SWEEP_EXPIRED = sql<TransitionRow>(
  'queue.sweepExpired',
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
   SELECT ${transitionColumns('s', `'running'`)},
          CASE WHEN s.status = 'queued' THEN pg_notify('${JOBS_CHANNEL}', '') END
     FROM swept s`,
);

/**
 * Deletes up to `$2` finished standalone jobs created before `$1` (their results go by cascade;
 * usage records keep their credits with job_id set to NULL). Jobs of a batch or a pipeline run are
 * left alone: they go with their batch or run, never one by one. Served by idx_jobs_created_at.
 */
export const PURGE_JOBS = sql<{ id: string }>(
  'queue.purgeJobs',
  `DELETE FROM jobs WHERE id = ANY(ARRAY(
     SELECT id FROM jobs
      WHERE created_at < $1 AND status IN ('completed', 'failed', 'cancelled')
        AND batch_id IS NULL AND pipeline_run_id IS NULL
      ORDER BY created_at
      LIMIT $2
      FOR UPDATE SKIP LOCKED))
   RETURNING id`,
);

/** Deletes up to `$2` results created before `$1`, oldest first; served by idx_results_created_at. */
export const PURGE_RESULTS = sql<{ id: string }>(
  'queue.purgeResults',
  `DELETE FROM results WHERE id = ANY(ARRAY(
     SELECT id FROM results WHERE created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED))
   RETURNING id`,
);

// ---- a user's cancel and retry -------------------------------------------------------------

/** Job `$1` of user `$2`: queued|running → cancelled, job.cancelled; the worker running it is told to abort. */
export const CANCEL = sql<JobRow & TransitionRow>(
  'queue.cancel',
  `WITH target AS (
     SELECT id, status FROM jobs WHERE id = $1 AND user_id = $2 AND status IN ('queued', 'running') FOR UPDATE),
   cancelled AS (
     UPDATE jobs j SET status = 'cancelled', finished_at = now(), updated_at = now(),
            locked_by = NULL, lease_expires_at = NULL
       FROM target t WHERE j.id = t.id
     RETURNING j.*, t.status AS from_status),
   ${outboxCtes('cancelled', eventType('job.cancelled'), jobEventData('s'))}
   SELECT ${jobColumns('c')}, c.from_status,
          CASE WHEN c.from_status = 'running' THEN pg_notify('${JOB_CANCEL_CHANNEL}', c.id::text) END
     FROM cancelled c`,
);

/**
 * Job `$1` of user `$2`: failed|cancelled → queued with a fresh set of attempts, unless it belongs
 * to a batch or pipeline run that has ended (their counts and single batch.completed, or the
 * run's outcome, are final). FOR SHARE holds the batch or run until this commits, so a concurrent
 * finishBatches / stopRuns either sees the re-queued job or makes this retry find the parent ended.
 */
export const RETRY = sql<JobRow & TransitionRow>(
  'queue.retry',
  `WITH target AS (
     SELECT id, status FROM jobs
      WHERE id = $1 AND user_id = $2 AND status IN ('failed', 'cancelled')
        AND (batch_id IS NULL OR EXISTS (
              SELECT 1 FROM batches b WHERE b.id = jobs.batch_id AND b.status = 'in_progress' FOR SHARE))
        AND (pipeline_run_id IS NULL OR EXISTS (
              SELECT 1 FROM pipeline_jobs r WHERE r.id = jobs.pipeline_run_id AND r.status = 'running' FOR SHARE))
        FOR UPDATE),
   retried AS (
     UPDATE jobs j SET status = 'queued', attempts = 0, error = NULL, run_at = now(), started_at = NULL,
            finished_at = NULL, updated_at = now()
       FROM target t WHERE j.id = t.id
     RETURNING j.*, t.status AS from_status)
   SELECT ${jobColumns('r')}, r.from_status, pg_notify('${JOBS_CHANNEL}', '')
     FROM retried r`,
);

// ---- batches -------------------------------------------------------------------------------

/** Batch `$1` of user `$2`: in_progress → cancelling (ended by FINISH_BATCHES once its jobs are cancelled). */
export const MARK_BATCH_CANCELLING = sql<{ id: string }>(
  'queue.markBatchCancelling',
  `UPDATE batches SET status = 'cancelling', updated_at = now()
    WHERE id = $1 AND user_id = $2 AND status = 'in_progress' RETURNING id`,
);

/**
 * Every queued and running job of batch `$1`, or of pipeline run `$2` → cancelled, job.cancelled
 * each; the workers running them are told to abort.
 */
export const CANCEL_JOBS_OF = sql<TransitionRow>(
  'queue.cancelJobsOf',
  `WITH target AS (
     SELECT id, status FROM jobs
      WHERE (batch_id = $1 OR pipeline_run_id = $2) AND status IN ('queued', 'running') FOR UPDATE),
   cancelled AS (
     UPDATE jobs j SET status = 'cancelled', finished_at = now(), updated_at = now(),
            locked_by = NULL, lease_expires_at = NULL
       FROM target t WHERE j.id = t.id
     RETURNING j.*, t.status AS from_status),
   ${outboxCtes('cancelled', eventType('job.cancelled'), jobEventData('s'))}
   SELECT ${transitionColumns('c', 'c.from_status')},
          CASE WHEN c.from_status = 'running' THEN pg_notify('${JOB_CANCEL_CHANNEL}', c.id::text) END
     FROM cancelled c`,
);

/**
 * Locks the open batches among `$1` (every open one when NULL), skipping those locked by someone
 * else (the sweeper comes back to them). FINISH_BATCHES runs next, in the same transaction, so
 * its view of the jobs is taken after the lock: a retry holding the batch (FOR SHARE, see RETRY)
 * either committed first, and its re-queued job is seen, or waits and finds the batch ended.
 */
export const LOCK_OPEN_BATCHES = sql<{ id: string }>(
  'queue.lockOpenBatches',
  `SELECT id FROM batches
    WHERE ($1::uuid[] IS NULL OR id = ANY($1::uuid[])) AND status IN ('in_progress', 'cancelling')
    FOR UPDATE SKIP LOCKED`,
);

/**
 * Ends the batches of `$1` that have no queued or running job left: `in_progress → completed`,
 * `cancelling → cancelled`, with their batch.completed event in the same statement. The status
 * re-check in the UPDATE makes the transition, and so the event, happen exactly once however many
 * workers try. Run after the transaction that ended a job has committed (so the last finisher
 * always sees every other finish), and by the sweeper, which repairs what a crash between the two
 * left undone.
 */
export const FINISH_BATCHES = sql<ParentRow>(
  'queue.finishBatches',
  `WITH finished AS (
     UPDATE batches b
        SET status = CASE WHEN b.status = 'cancelling' THEN 'cancelled' ELSE 'completed' END,
            completed_at = now(), updated_at = now()
      WHERE b.id = ANY($1::uuid[])
        AND b.status IN ('in_progress', 'cancelling')
        AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.batch_id = b.id AND j.status IN ('queued', 'running'))
     RETURNING b.*),
   ${outboxCtes('finished', eventType('batch.completed'), batchEventData('s'))}
   SELECT id, user_id, status FROM finished`,
);

// ---- pipeline runs -------------------------------------------------------------------------

/**
 * The credits held by the running runs among `ids` (see migration 8), read before the statement
 * that ends them sets the hold to 0 (a CTE's UPDATE ... RETURNING gives only the new values).
 */
const HELD_CREDITS = (ids: string): string =>
  `SELECT id, credits_held, credits_month FROM pipeline_jobs WHERE id = ANY(${ids}) AND status = 'running' AND credits_held > 0`;

/** Gives the hold of each run in `ended` (a CTE of the runs the statement ended) back to the month it was charged in. */
const REFUND_HELD = (ended: string): string =>
  `UPDATE usage_monthly m SET credits = m.credits - h.credits_held
      FROM ${ended} e JOIN held h ON h.id = e.id
     WHERE m.user_id = e.user_id AND m.month = h.credits_month`;

/** Locks the running runs among `$1` (all when NULL) for STOP_RUNS; the same guard as LOCK_OPEN_BATCHES. */
export const LOCK_RUNNING_RUNS = sql<{ id: string }>(
  'queue.lockRunningRuns',
  `SELECT id FROM pipeline_jobs WHERE ($1::uuid[] IS NULL OR id = ANY($1::uuid[])) AND status = 'running'
    FOR UPDATE SKIP LOCKED`,
);

/**
 * Ends the running runs of `$1` whose current step's job has ended without completing: `failed`
 * (with error STEP_FAILED and pipeline.failed) when the step failed for good, `cancelled` when the
 * step's job was cancelled on its own (POST /jobs/{id}/cancel). Exactly once thanks to the status
 * re-check. Run after the step's failure or cancel committed, and by the sweeper as a repair pass
 * (index pipeline_jobs_running).
 */
export const STOP_RUNS = sql<ParentRow>(
  'queue.stopRuns',
  `WITH held AS (${HELD_CREDITS('$1::uuid[]')}),
   stopped AS (
     UPDATE pipeline_jobs r
        SET status = CASE WHEN j.status = 'failed' THEN 'failed' ELSE 'cancelled' END,
            finished_at = now(), updated_at = now(), credits_held = 0,
            error = CASE WHEN j.status = 'failed' THEN jsonb_build_object('code', 'STEP_FAILED',
              'message', 'Step ' || (r.current_step + 1) || ' (' || (r.steps -> r.current_step ->> 'type') || ') failed: '
                         || coalesce(j.error ->> 'message', 'no message'),
              'step', r.current_step, 'jobId', j.id, 'jobError', j.error) END
       FROM jobs j
      WHERE r.id = ANY($1::uuid[])
        AND r.status = 'running'
        AND j.pipeline_run_id = r.id AND j.pipeline_step = r.current_step AND j.status IN ('failed', 'cancelled')
     RETURNING r.*),
   refund AS (${REFUND_HELD('stopped')}),
   ${outboxCtes('stopped', `CASE WHEN s.status = 'failed' THEN ${eventType('pipeline.failed')} END`, runEventData('s'))}
   SELECT id, user_id, status FROM stopped`,
);

/**
 * Locks the queued or running step job of run `$1` of user `$2` before the run: the order a
 * completing step takes (job, then run), so a cancel racing a completion waits instead of
 * deadlocking.
 */
export const LOCK_RUN_STEP = sql<{ id: string }>(
  'queue.lockRunStep',
  `SELECT id FROM jobs WHERE pipeline_run_id = $1 AND user_id = $2 AND status IN ('queued', 'running') FOR UPDATE`,
);

/** Run `$1` of user `$2`: running → cancelled (its step's job is cancelled next, by CANCEL_JOBS_OF). */
export const CANCEL_RUN = sql<ParentRow>(
  'queue.cancelRun',
  `WITH held AS (${HELD_CREDITS('ARRAY[$1::uuid]')}),
   run AS (
     UPDATE pipeline_jobs SET status = 'cancelled', finished_at = now(), updated_at = now(), credits_held = 0
      WHERE id = $1 AND user_id = $2 AND status = 'running' RETURNING id, user_id, status),
   refund AS (${REFUND_HELD('run')})
   SELECT id, user_id, status FROM run`,
);

// ---- the change feed -----------------------------------------------------------------------

/** Sends each of `$1` (JSON payloads of changes, see JobChanges) to the other instances, in one statement. */
export const NOTIFY_CHANGES = sql<{ sent: string }>(
  'queue.notifyChanges',
  `SELECT count(pg_notify('${JOB_CHANGES_CHANNEL}', payload)) AS sent FROM unnest($1::text[]) AS payload`,
);
