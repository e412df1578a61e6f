import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A pipeline run's credits are held whole when it is admitted (queue.startRun): `credits_held` is
 * what is charged to `usage_monthly` in `credits_month` for steps not started yet. Each step that
 * starts takes its cost from the hold (it writes its usage record; the month was charged already);
 * a run that ends early gives the rest back to the month it was charged in. Without the hold, jobs
 * submitted after the run's admission could use the credits its later steps need, and those steps
 * (never refused: the run was admitted) would take the month past its limit. Runs admitted before
 * this migration hold nothing (0): their steps are charged as they start, as before.
 */
export class RunCreditsHeld1764300000008 implements MigrationInterface {
  name = 'RunCreditsHeld1764300000008';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE pipeline_jobs
        ADD COLUMN credits_held integer NOT NULL DEFAULT 0 CHECK (credits_held >= 0),
        ADD COLUMN credits_month date`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE pipeline_jobs DROP COLUMN IF EXISTS credits_held, DROP COLUMN IF EXISTS credits_month`);
  }
}
