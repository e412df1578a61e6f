import { sql } from '../../database/sql.js';
import { jobColumns } from '../queue/queue.fragments.js';
import type { JobRow } from '../queue/queue.types.js';

/** The Jobs API's reads (every write is JobLifecycle's). Each takes the owner. */

export const FIND_JOB = sql<JobRow>(
  'jobs.findById',
  `SELECT ${jobColumns('j')} FROM jobs j WHERE j.id = $1 AND j.user_id = $2`,
);

export const FIND_BY_IDEMPOTENCY_KEY = sql<JobRow>(
  'jobs.findByIdempotencyKey',
  `SELECT ${jobColumns('j')} FROM jobs j WHERE j.user_id = $1 AND j.idempotency_key = $2`,
);

/**
 * A user's jobs, newest first, after the keyset `($7, $8)` when given; each filter applies when
 * its parameter is not NULL. Run unprepared, so PostgreSQL plans it with the values: a NULL
 * filter folds away and the plan is the one for the filters given (idx_jobs_user_id, or
 * idx_jobs_user_status with a status; test/indexes.int.spec.ts).
 */
export const LIST_JOBS = sql<JobRow>(
  'jobs.list',
  `SELECT ${jobColumns('j')} FROM jobs j
    WHERE j.user_id = $1
      AND ($2::text IS NULL OR j.status = $2)
      AND ($3::text IS NULL OR j.type = $3)
      AND ($4::uuid IS NULL OR j.batch_id = $4)
      AND ($5::timestamptz IS NULL OR j.created_at > $5)
      AND ($6::timestamptz IS NULL OR j.created_at < $6)
      AND ($7::timestamptz IS NULL OR (j.created_at, j.id) < ($7::timestamptz, $8::uuid))
    ORDER BY j.created_at DESC, j.id DESC
    LIMIT $9`,
);

export const FIND_RESULT = sql<{ output: unknown; created_at: Date }>(
  'jobs.findResult',
  `SELECT r.output, r.created_at FROM results r JOIN jobs j ON j.id = r.job_id WHERE r.job_id = $1 AND j.user_id = $2`,
);
