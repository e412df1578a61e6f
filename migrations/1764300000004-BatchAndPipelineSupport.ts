import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * - `jobs.batch_item`: a batch job's position in its upload (0-based), so results stream back in
 *   the order they were sent; unique per batch.
 * - `pipeline_jobs_running`: the running pipeline runs, for the sweeper's repair pass (small:
 *   only runs in flight).
 * Indexes are built CONCURRENTLY so the tables stay writable; a half-built one from a failed run
 * is dropped and rebuilt.
 */
export class BatchAndPipelineSupport1764300000004 implements MigrationInterface {
  name = 'BatchAndPipelineSupport1764300000004';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE jobs ADD COLUMN IF NOT EXISTS batch_item integer`);
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS jobs_batch_item`);
    await q.query(
      `CREATE UNIQUE INDEX CONCURRENTLY jobs_batch_item ON jobs (batch_id, batch_item) WHERE batch_id IS NOT NULL`,
    );
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS pipeline_jobs_running`);
    await q.query(`CREATE INDEX CONCURRENTLY pipeline_jobs_running ON pipeline_jobs (id) WHERE status = 'running'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS pipeline_jobs_running`);
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS jobs_batch_item`);
    await q.query(`ALTER TABLE jobs DROP COLUMN IF EXISTS batch_item`);
  }
}
