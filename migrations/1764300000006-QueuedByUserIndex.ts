import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `jobs_queued_user`: the queued jobs by user, in claim order. The fair claim (queue.claim) walks
 * it user by user when the head of the queue would pass someone's running cap, so a claim costs
 * one probe per waiting user instead of a scan past a capped user's whole backlog. Partial: only
 * queued rows are in it, so it costs one index entry per enqueue and nothing when a job runs or
 * ends. Built CONCURRENTLY so the table stays writable.
 */
export class QueuedByUserIndex1764300000006 implements MigrationInterface {
  name = 'QueuedByUserIndex1764300000006';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS jobs_queued_user`);
    await q.query(
      `CREATE INDEX CONCURRENTLY jobs_queued_user ON jobs (user_id, priority DESC, run_at) WHERE status = 'queued'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS jobs_queued_user`);
  }
}
