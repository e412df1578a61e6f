import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A pipeline run's credits are held whole when it is admitted (queue.startRun): `credits_held` is
 * what is charged to `usage_monthly` in `credits_month` for steps not started yet. Each step that
 * starts takes its cost from the hold (it writes its usage record; the month was charged already);
 * a run that ends early gives the rest back to the month it was charged in. Without the hold, jobs
 * submitted after the run's admission could use the credits its later steps need, and those steps
 * (never refused: the run was admitted) would take the month past its limit. Runs admitted before
 * this migration hold nothing (0): their steps are charged as they start, as before. Down gives
 * the running runs' holds back first, as the code before charges their later steps again.
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
    // The code before this migration charges each later step as it starts: what running runs
    // hold goes back to their months first, or those steps would be charged twice.
    await q.query(`
      UPDATE usage_monthly m SET credits = m.credits - h.held
        FROM (SELECT user_id, credits_month, sum(credits_held) AS held FROM pipeline_jobs
               WHERE credits_held > 0 GROUP BY 1, 2) h
       WHERE m.user_id = h.user_id AND m.month = h.credits_month`);
    await q.query(`ALTER TABLE pipeline_jobs DROP COLUMN IF EXISTS credits_held, DROP COLUMN IF EXISTS credits_month`);
  }
}
