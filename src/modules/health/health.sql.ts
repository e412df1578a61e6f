import { sql } from '../../database/sql.js';

/** The readiness probe's round trip to PostgreSQL. */
export const PING = sql('health.ping', 'SELECT 1');

/**
 * The state of the queue and the webhook outbox, for GET /health/detailed. Each part walks a
 * partial index (queued, running, pending deliveries); cached by the controller for 2 s, so a
 * dashboard polling it cannot load the database.
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
  `SELECT (SELECT count(*)::int FROM jobs WHERE status = 'queued') AS queued,
          (SELECT extract(epoch FROM now() - min(run_at))::float8 FROM jobs
            WHERE status = 'queued' AND run_at <= now()) AS oldest_queued_seconds,
          (SELECT count(*)::int FROM jobs WHERE status = 'running') AS running,
          (SELECT count(*)::int FROM webhook_deliveries WHERE status = 'pending') AS webhook_backlog,
          (SELECT extract(epoch FROM now() - min(next_attempt_at))::float8 FROM webhook_deliveries
            WHERE status = 'pending' AND next_attempt_at <= now()) AS oldest_due_delivery_seconds,
          (SELECT count(*)::int FROM webhooks
            WHERE failing_since IS NOT NULL AND deleted_at IS NULL) AS failing_endpoints`,
);
