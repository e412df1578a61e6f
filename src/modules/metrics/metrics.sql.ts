import { sql } from '../../database/sql.js';

/**
 * The queue as the metrics see it: jobs queued (due now or later) and running, and how long the
 * oldest due job has waited. Index-only over the partial jobs_queued_user and jobs_running_lease;
 * run at most once per scrape interval (MetricsService caches it).
 */
export interface QueueGauges {
  queued: number;
  running: number;
  oldest_due_seconds: number | null;
}

export const QUEUE_GAUGES = sql<QueueGauges>(
  'metrics.queueGauges',
  `SELECT (SELECT count(*)::int FROM jobs WHERE status = 'queued') AS queued,
          (SELECT count(*)::int FROM jobs WHERE status = 'running') AS running,
          (SELECT extract(epoch FROM now() - min(run_at))::float8 FROM jobs
            WHERE status = 'queued' AND run_at <= now()) AS oldest_due_seconds`,
);
