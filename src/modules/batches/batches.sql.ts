import { sql } from '../../database/sql.js';
import { batchCounts } from '../queue/queue.fragments.js';
import type { BatchCounts, BatchRow, ResultRow } from './batches.repository.js';

/** The Batches API's reads (every write is JobLifecycle's). Each takes the owner, or follows a check that did. */

const BATCH_COLUMNS = `b.id, b.user_id, b.status, b.total, b.metadata, b.created_at, b.completed_at,
  b.created_at::text AS cursor_ts, ${batchCounts('b.id')} AS counts`;

export const FIND_BATCH = sql<BatchRow & { counts: BatchCounts }>(
  'batches.findById',
  `SELECT ${BATCH_COLUMNS} FROM batches b WHERE b.id = $1 AND b.user_id = $2`,
);

/** A user's batches, newest first, with status `$2` when not NULL, after the keyset `($3, $4)` when given. */
export const LIST_BATCHES = sql<BatchRow>(
  'batches.list',
  `SELECT ${BATCH_COLUMNS} FROM batches b
    WHERE b.user_id = $1 AND ($2::text IS NULL OR b.status = $2)
      AND ($3::timestamptz IS NULL OR (b.created_at, b.id) < ($3::timestamptz, $4::uuid))
    ORDER BY b.created_at DESC, b.id DESC LIMIT $5`,
);

/** Batch `$1`'s items in upload order (index jobs_batch_item), those of status `$2` when not NULL: streamed. */
export const BATCH_RESULTS = sql<ResultRow>(
  'batches.results',
  `SELECT j.custom_id, j.id, j.status, r.output, j.error
     FROM jobs j LEFT JOIN results r ON r.job_id = j.id
    WHERE j.batch_id = $1 AND ($2::text IS NULL OR j.status = $2)
    ORDER BY j.batch_item`,
);
