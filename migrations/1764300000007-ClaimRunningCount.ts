import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `claim_running_jobs(user)`: a user's running jobs as the claim (queue.claim) must count them
 * to hold the running cap exactly when several workers claim at once. A claim statement counts in
 * its own snapshot, so two claims at the same instant did not see each other's jobs and could both
 * fill the same user's room (eight claims at once ran 6 to 10 jobs against a cap of 3). This
 * function first takes a transaction-scoped advisory lock, held until the claim commits, and then
 * counts in a new snapshot (a VOLATILE PL/pgSQL function takes one per query): a claim that has
 * to count waits for the claim in progress, then sees its jobs. Claims of an empty queue, and the
 * rest of every claim, take no lock; the claim stays one statement (one round trip).
 */
export class ClaimRunningCount1764300000007 implements MigrationInterface {
  name = 'ClaimRunningCount1764300000007';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION claim_running_jobs(p_user_id uuid) RETURNS integer
        LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        PERFORM pg_advisory_xact_lock(4318772002);
        RETURN (SELECT count(*)::int FROM jobs WHERE user_id = p_user_id AND status = 'running');
      END
      $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION IF EXISTS claim_running_jobs(uuid)`);
  }
}
