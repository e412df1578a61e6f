import type { DataSource } from 'typeorm';
import { eventType, isoSql, outboxCtes } from '../webhooks/outbox.js';

export const BATCH_STATUSES = ['in_progress', 'completed', 'cancelling', 'cancelled'] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

/** `counts` of a batch, from its job rows (index jobs_batch_id): never a counter that can drift. */
export function batchCountsSql(batchId: string): string {
  return `(SELECT jsonb_build_object(
      'total', count(*),
      'queued', count(*) FILTER (WHERE status = 'queued'),
      'running', count(*) FILTER (WHERE status = 'running'),
      'completed', count(*) FILTER (WHERE status = 'completed'),
      'failed', count(*) FILTER (WHERE status = 'failed'),
      'cancelled', count(*) FILTER (WHERE status = 'cancelled'))
    FROM jobs WHERE batch_id = ${batchId})`;
}

/** The `data` of batch.* events (the batch as GET /batches/{id} returns it), from a batches row alias. */
export function batchEventData(alias: string): string {
  return `jsonb_build_object('id', ${alias}.id, 'status', ${alias}.status, 'counts', ${batchCountsSql(`${alias}.id`)},
    'metadata', ${alias}.metadata, 'createdAt', ${isoSql(`${alias}.created_at`)},
    'completedAt', ${isoSql(`${alias}.completed_at`)})`;
}

/**
 * Ends the batches of `$1` that have no queued or running
 * job left: `in_progress → completed`, `cancelling → cancelled`, with their batch.completed event
 * in the same statement. The status re-check in the UPDATE makes the transition, and so the
 * event, happen exactly once however many workers try. Run after the transaction that finished a
 * job has committed (so the last finisher always sees every other finish), and by the sweeper,
 * which repairs what a crash between the two left undone.
 */
export const FINISH_BATCHES_SQL = `
  WITH finished AS (
    UPDATE batches b
       SET status = CASE WHEN b.status = 'cancelling' THEN 'cancelled' ELSE 'completed' END,
           completed_at = now(), updated_at = now()
     WHERE b.id = ANY($1::uuid[])
       AND b.status IN ('in_progress', 'cancelling')
       AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.batch_id = b.id AND j.status IN ('queued', 'running'))
    RETURNING b.*),
  ${outboxCtes('finished', eventType('batch.completed'), batchEventData('s'))}
  SELECT id, status FROM finished`;

/**
 * Runs FINISH_BATCHES_SQL on the given batches (every open one when undefined), in a transaction
 * that first locks them (FOR UPDATE SKIP LOCKED). The UPDATE is a second statement, so its view
 * of the jobs is taken after the lock: a retry holding the batch (FOR SHARE, see
 * JobsRepository.retry) either commits first — and its re-queued job is then seen — or waits and
 * finds the batch ended. A batch locked by someone else is skipped; the sweeper comes back to it.
 */
export function finishBatches(db: DataSource, ids?: string[]): Promise<Array<{ id: string; status: string }>> {
  return db.transaction(async (tx) => {
    const locked: Array<{ id: string }> = await tx.query(
      `SELECT id FROM batches
        WHERE ($1::uuid[] IS NULL OR id = ANY($1::uuid[])) AND status IN ('in_progress', 'cancelling')
        FOR UPDATE SKIP LOCKED`,
      [ids ?? null],
    );
    if (locked.length === 0) return [];
    return tx.query(FINISH_BATCHES_SQL, [locked.map((r) => r.id)]);
  });
}
