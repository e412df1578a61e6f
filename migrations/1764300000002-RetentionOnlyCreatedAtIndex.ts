import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Rebuilds idx_jobs_created_at as a partial index over finished standalone jobs, the rows the
 * retention purge deletes oldest first.
 *
 * The plain `jobs (created_at)` index of PerformanceIndexes was a hazard for a user's job list:
 * rows are inserted in time order, so that index is perfectly correlated with the heap and the
 * planner prefers walking it newest-first and filtering by user over idx_jobs_user_id. For a
 * user whose jobs are all old, that read every newer row of every other user (96,000 rows
 * filtered for 21 returned on a 120k-row table). The user list never states the partial
 * predicate, so it can no longer pick this index. Both steps run CONCURRENTLY (no write lock on
 * `jobs`); re-running after a failure drops whatever half-built index was left and starts over.
 */
export class RetentionOnlyCreatedAtIndex1764300000002 implements MigrationInterface {
  name = 'RetentionOnlyCreatedAtIndex1764300000002';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS idx_jobs_created_at`);
    // The predicate of WorkerRepository.purgeJobs, word for word (test/indexes.int.spec.ts proves the match).
    await q.query(
      `CREATE INDEX CONCURRENTLY idx_jobs_created_at ON jobs (created_at)
        WHERE status IN ('completed', 'failed', 'cancelled') AND batch_id IS NULL AND pipeline_run_id IS NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS idx_jobs_created_at`);
    await q.query(`CREATE INDEX CONCURRENTLY idx_jobs_created_at ON jobs (created_at)`);
  }
}
