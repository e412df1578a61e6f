import { sql } from '../../database/sql.js';

/** The readiness probe's round trip to PostgreSQL. */
export const PING = sql('health.ping', 'SELECT 1');

/**
 * Queued jobs and pending deliveries are counted up to this many, so the counts' cost stays
 * bounded whatever the backlog (at 1,000,000 queued jobs the statement took 150-170 ms with exact
 * counts, ~100 ms with this bound: the count itself 8 ms, the oldest due age's min(run_at) ~70 ms,
 * see ARCHITECTURE). Beyond, the figure says 100,000: far past any alert's threshold.
 */
export const BACKLOG_COUNT_CAP = 100_000;

/**
 * The state of the queue and the webhook outbox, for GET /health/detailed and the metrics' queue
 * gauges. Each part walks a partial index (queued, running, pending deliveries), the two backlogs
 * no further than BACKLOG_COUNT_CAP entries; cached for 2 s, so a dashboard or scraper polling it
 * cannot load the database.
 */
export const DETAILED = sql<{
  queued: number;
  oldest_queued_seconds: number | null;
  running: number;
  webhook_backlog: number;
  oldest_due_delivery_seconds: number | null;
  failing_endpoints: number;
}>(
  'health.detailed',
  `SELECT (SELECT count(*)::int FROM (SELECT 1 FROM jobs WHERE status = 'queued' LIMIT ${BACKLOG_COUNT_CAP}) q) AS queued,
          (SELECT extract(epoch FROM now() - min(run_at))::float8 FROM jobs
            WHERE status = 'queued' AND run_at <= now()) AS oldest_queued_seconds,
          (SELECT count(*)::int FROM jobs WHERE status = 'running') AS running,
          (SELECT count(*)::int FROM (SELECT 1 FROM webhook_deliveries WHERE status = 'pending'
            LIMIT ${BACKLOG_COUNT_CAP}) d) AS webhook_backlog,
          (SELECT extract(epoch FROM now() - min(next_attempt_at))::float8 FROM webhook_deliveries
            WHERE status = 'pending' AND next_attempt_at <= now()) AS oldest_due_delivery_seconds,
          (SELECT count(*)::int FROM webhooks
            WHERE failing_since IS NOT NULL AND deleted_at IS NULL) AS failing_endpoints`,
);
