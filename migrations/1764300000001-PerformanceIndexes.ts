import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The eight named performance indexes of the spec, each shaped for the query it serves.
 * CONCURRENTLY cannot run inside a transaction, hence `transaction = false`; the migrator
 * also reverts this migration outside a transaction (TypeORM's revert ignores the flag).
 * `IF NOT EXISTS` / `IF EXISTS` make a half-finished run safe to repeat.
 */
export const PERFORMANCE_INDEXES: ReadonlyArray<{ name: string; table: string; definition: string }> = [
  // Worker claim: WHERE status = 'queued' AND run_at <= now() ORDER BY priority DESC, run_at.
  { name: 'idx_jobs_status', table: 'jobs', definition: 'jobs (status, priority DESC, run_at)' },
  // Retention and time-range scans over all jobs.
  { name: 'idx_jobs_created_at', table: 'jobs', definition: 'jobs (created_at)' },
  // A user's job list, newest first, keyset on (created_at, id).
  { name: 'idx_jobs_user_id', table: 'jobs', definition: 'jobs (user_id, created_at DESC, id DESC)' },
  // A user's job list filtered by status, newest first.
  { name: 'idx_jobs_user_status', table: 'jobs', definition: 'jobs (user_id, status, created_at DESC, id DESC)' },
  // A job's result. Unique: the database itself guarantees at most one result per job.
  { name: 'idx_results_job_id', table: 'results', definition: 'results (job_id)' },
  // Time-based result queries and bulk export.
  { name: 'idx_results_created_at', table: 'results', definition: 'results (created_at)' },
  // A user's pipeline runs filtered by status, newest first.
  {
    name: 'idx_pipeline_jobs_status',
    table: 'pipeline_jobs',
    definition: 'pipeline_jobs (user_id, status, created_at DESC, id DESC)',
  },
  // A user's recent pipeline runs.
  {
    name: 'idx_pipeline_jobs_created_at',
    table: 'pipeline_jobs',
    definition: 'pipeline_jobs (user_id, created_at DESC, id DESC)',
  },
];

const UNIQUE = new Set(['idx_results_job_id']);

export class PerformanceIndexes1764300000001 implements MigrationInterface {
  name = 'PerformanceIndexes1764300000001';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    for (const index of PERFORMANCE_INDEXES) {
      // A failed CONCURRENTLY build leaves an INVALID index behind; drop it so the retry rebuilds.
      await q.query(
        `DO $$ BEGIN
           IF EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                      WHERE c.relname = '${index.name}' AND NOT i.indisvalid) THEN
             EXECUTE 'DROP INDEX ${index.name}';
           END IF;
         END $$`,
      );
      const unique = UNIQUE.has(index.name) ? 'UNIQUE ' : '';
      await q.query(`CREATE ${unique}INDEX CONCURRENTLY IF NOT EXISTS ${index.name} ON ${index.definition}`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const index of [...PERFORMANCE_INDEXES].reverse()) {
      await q.query(`DROP INDEX CONCURRENTLY IF EXISTS ${index.name}`);
    }
  }
}
