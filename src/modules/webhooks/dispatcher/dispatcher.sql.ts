import { sql } from '../../../database/sql.js';
import { isoSql } from '../outbox.js';

export interface ClaimedDelivery {
  id: string;
  webhook_id: string;
  event_id: string;
  /** Attempts made before this one. */
  attempts: number;
  /** `attempts` when the delivery was last re-armed; the retry schedule counts from here. */
  retry_base: number;
  event_type: string;
  event_data: unknown;
  event_created_at: string;
  url: string;
  /** Active and not deleted. */
  live: boolean;
  secret_encrypted: string;
  /** The rotated-out secret while it still signs (24 h), else null. */
  previous_secret_encrypted: string | null;
}

/**
 * Locks up to $5 due deliveries for $6 ms, oldest due first, with SKIP LOCKED so many dispatchers
 * share the table. Per endpoint at most `$3 ->> webhook_id` (default $4), none for the endpoints
 * in $1; it scans $2 candidates to find them.
 */
export const CLAIM_DELIVERIES = sql<ClaimedDelivery>(
  'dispatcher.claim',
  `
  WITH candidates AS (
    SELECT id, webhook_id, next_attempt_at FROM webhook_deliveries
     WHERE status = 'pending' AND next_attempt_at <= now()
       AND (locked_until IS NULL OR locked_until < now())
       AND webhook_id <> ALL($1::uuid[])
     ORDER BY next_attempt_at
     LIMIT $2
     FOR UPDATE SKIP LOCKED),
  picked AS (
    SELECT id FROM (
      SELECT id, next_attempt_at,
             row_number() OVER (PARTITION BY webhook_id ORDER BY next_attempt_at) AS rank,
             coalesce(($3::jsonb ->> webhook_id::text)::int, $4) AS room
        FROM candidates) c
     WHERE rank <= room
     ORDER BY next_attempt_at
     LIMIT $5),
  locked AS (
    UPDATE webhook_deliveries
       SET locked_until = now() + make_interval(secs => $6::double precision / 1000)
     WHERE id = ANY(ARRAY(SELECT id FROM picked))
    RETURNING id, webhook_id, event_id, attempts, retry_base)
  SELECT l.id, l.webhook_id, l.event_id, l.attempts, l.retry_base,
         e.type AS event_type, e.data AS event_data, ${isoSql('e.created_at')} AS event_created_at,
         w.url, (w.active AND w.deleted_at IS NULL) AS live, w.secret_encrypted,
         CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret_encrypted END
           AS previous_secret_encrypted
    FROM locked l
    JOIN webhook_events e ON e.id = l.event_id
    JOIN webhooks w ON w.id = l.webhook_id`,
);

/** $1 delivery id, $2 the reason: a pending delivery whose endpoint is gone ends `failed` without an attempt. */
export const FAIL_UNDELIVERABLE = sql(
  'dispatcher.failUndeliverable',
  `
  UPDATE webhook_deliveries SET status = 'failed', locked_until = NULL, last_error = $2, updated_at = now()
   WHERE id = $1 AND status = 'pending'`,
);

const DISABLE_AFTER = `make_interval(secs => $11::double precision / 1000)`;

/**
 * Records many attempts (one per element of the arrays $1…$10) in one statement: the attempt
 * rows, each delivery's new state, and the health of the endpoints involved; $11 is how long (ms)
 * an endpoint may fail continuously before it is disabled. Returns the endpoints it disabled.
 */
export const RECORD_ATTEMPTS = sql<{ id: string }>(
  'dispatcher.record',
  `
  WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::int[], $5::int[], $6::text[], $7::text[],
                         $8::text[], $9::double precision[], $10::text[])
      AS r(delivery_id, webhook_id, attempted_at, status_code, duration_ms, error, response_body, next_status,
           in_ms, outcome)),
  attempt AS (
    INSERT INTO webhook_delivery_attempts (delivery_id, attempted_at, status_code, duration_ms, error, response_body)
    SELECT delivery_id, attempted_at, status_code, duration_ms, error, response_body FROM input),
  delivery AS (
    UPDATE webhook_deliveries d
       SET attempts = d.attempts + 1, status = i.next_status,
           next_attempt_at = CASE WHEN i.next_status = 'pending'
                                  THEN now() + make_interval(secs => i.in_ms / 1000) ELSE d.next_attempt_at END,
           locked_until = NULL, last_status_code = i.status_code, last_error = i.error,
           delivered_at = CASE WHEN i.next_status = 'succeeded' THEN now() END, updated_at = now()
      FROM input i
     WHERE d.id = i.delivery_id AND d.status = 'pending'),
  health AS (
    SELECT webhook_id,
           CASE WHEN bool_or(outcome = 'gone') THEN 'gone' WHEN bool_or(outcome = 'ok') THEN 'ok' ELSE 'failed' END
             AS outcome
      FROM input GROUP BY webhook_id),
  endpoint AS (
    UPDATE webhooks w
       SET failing_since = CASE WHEN h.outcome = 'ok' THEN NULL ELSE coalesce(w.failing_since, now()) END,
           active = CASE WHEN h.outcome = 'gone' THEN false
                         WHEN h.outcome = 'failed' AND w.failing_since < now() - ${DISABLE_AFTER} THEN false
                         ELSE w.active END,
           disabled_reason = CASE
             WHEN h.outcome = 'gone' THEN 'The endpoint answered 410 Gone'
             WHEN h.outcome = 'failed' AND w.failing_since < now() - ${DISABLE_AFTER}
             THEN 'Failing continuously since ' || ${isoSql('w.failing_since')}
             ELSE w.disabled_reason END,
           updated_at = now()
      FROM health h
     WHERE w.id = h.webhook_id AND w.deleted_at IS NULL AND (
           (h.outcome = 'ok' AND w.failing_since IS NOT NULL)
        OR (h.outcome = 'gone' AND w.active)
        OR (h.outcome = 'failed' AND (w.failing_since IS NULL
              OR (w.active AND w.failing_since < now() - ${DISABLE_AFTER}))))
    RETURNING w.id, w.active)
  SELECT id FROM endpoint WHERE NOT active`,
);
