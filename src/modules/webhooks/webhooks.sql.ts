import { sql } from '../../database/sql.js';
import type { DeliveryStatus } from './dto/webhook.dto.js';
import { WEBHOOKS_CHANNEL } from './outbox.js';

export interface WebhookRow {
  id: string;
  user_id: string;
  url: string;
  events: string[];
  description: string | null;
  active: boolean;
  disabled_reason: string | null;
  secret_encrypted: string;
  previous_secret_encrypted: string | null;
  previous_secret_expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
  cursor_ts: string;
}

export interface DeliveryRow {
  id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: Date;
  last_status_code: number | null;
  last_error: string | null;
  created_at: Date;
  delivered_at: Date | null;
  cursor_ts: string;
}

export interface AttemptRow {
  attempted_at: Date;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  response_body: string | null;
}

/** How long a rotated-out secret keeps signing next to the new one (SPEC: 24 h). */
export const PREVIOUS_SECRET_HOURS = 24;

const WEBHOOK_COLUMNS = `id, user_id, url, events, description, active, disabled_reason, secret_encrypted,
         previous_secret_encrypted, previous_secret_expires_at, created_at, updated_at, created_at::text AS cursor_ts`;
const DELIVERY_COLUMNS = `id, webhook_id, event_id, event_type, status, attempts, next_attempt_at, last_status_code,
         last_error, created_at, delivered_at, created_at::text AS cursor_ts`;

/** Re-arms deliveries: pending now, the retry schedule restarting from the current attempt count. */
const REARM = `status = 'pending', next_attempt_at = now(), retry_base = attempts, locked_until = NULL, updated_at = now()`;

// Every statement below takes the owner; soft-deleted endpoints are invisible.

/**
 * $1 user id. Holds the owner's row until the transaction ends: one user's endpoint creations run
 * one at a time, so the count in {@link INSERT_WEBHOOK} (a statement started after the lock) is current.
 */
export const LOCK_WEBHOOK_OWNER = sql('webhooks.lockOwner', 'SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE');

/**
 * $1 user id, $2 url, $3 events, $4 description, $5 encrypted secret, $6 the most endpoints a user
 * may have. No row when the user already has $6 (deleted ones do not count).
 */
export const INSERT_WEBHOOK = sql<WebhookRow>(
  'webhooks.insert',
  `
  INSERT INTO webhooks (user_id, url, events, description, secret_encrypted)
  SELECT $1, $2, $3, $4, $5
   WHERE (SELECT count(*) FROM webhooks WHERE user_id = $1 AND deleted_at IS NULL) < $6
  RETURNING ${WEBHOOK_COLUMNS}`,
);

/** Newest first. $1 user id, $2/$3 the keyset (created_at, id) to continue after or NULL, $4 limit. */
export const LIST_WEBHOOKS = sql<WebhookRow>(
  'webhooks.list',
  `
  SELECT ${WEBHOOK_COLUMNS}
    FROM webhooks
   WHERE user_id = $1 AND deleted_at IS NULL
     AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
   ORDER BY created_at DESC, id DESC LIMIT $4`,
);

/** $1 id, $2 user id. */
export const FIND_WEBHOOK = sql<WebhookRow>(
  'webhooks.find',
  `
  SELECT ${WEBHOOK_COLUMNS}
    FROM webhooks
   WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL`,
);

/**
 * $1 id, $2 user id; $3 url, $4 events, $7 active, each NULL to keep; $5 whether to set the
 * description to $6. Re-enabling clears the disabled reason and the failure streak.
 */
export const UPDATE_WEBHOOK = sql<WebhookRow>(
  'webhooks.update',
  `
  UPDATE webhooks SET
         url = coalesce($3, url),
         events = coalesce($4, events),
         description = CASE WHEN $5 THEN $6 ELSE description END,
         active = coalesce($7, active),
         disabled_reason = CASE WHEN $7 IS TRUE THEN NULL
                                WHEN $7 IS FALSE THEN 'Paused by its owner (PUT active: false)'
                                ELSE disabled_reason END,
         failing_since = CASE WHEN $7 IS TRUE THEN NULL ELSE failing_since END,
         updated_at = now()
   WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL
  RETURNING ${WEBHOOK_COLUMNS}`,
);

/** $1 id, $2 user id. */
export const SOFT_DELETE_WEBHOOK = sql<{ id: string }>(
  'webhooks.softDelete',
  `
  UPDATE webhooks SET deleted_at = now(), active = false, updated_at = now()
   WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL
  RETURNING id`,
);

/** $1 id, $2 user id, $3 the new encrypted secret; the current one signs PREVIOUS_SECRET_HOURS more. */
export const ROTATE_WEBHOOK_SECRET = sql<WebhookRow>(
  'webhooks.rotateSecret',
  `
  UPDATE webhooks SET previous_secret_encrypted = secret_encrypted,
         previous_secret_expires_at = now() + make_interval(hours => ${PREVIOUS_SECRET_HOURS}),
         secret_encrypted = $3, updated_at = now()
   WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL
  RETURNING ${WEBHOOK_COLUMNS}`,
);

/** A webhook.test event and its one delivery, to this endpoint only. $1 user id, $2 webhook id, $3 data. */
export const INSERT_TEST_EVENT = sql<{ event_id: string; delivery_id: string }>(
  'webhooks.insertTestEvent',
  `
  WITH event AS (
    INSERT INTO webhook_events (user_id, type, data) VALUES ($1, 'webhook.test', $3) RETURNING id)
  INSERT INTO webhook_deliveries (webhook_id, event_id, user_id, event_type)
  SELECT $2, event.id, $1, 'webhook.test' FROM event
  RETURNING event_id, id AS delivery_id`,
);

/**
 * Newest first. $1 webhook id, $2 user id, $3 status and $4 event type (NULL: any), $5/$6 the
 * keyset (created_at, id) to continue after or NULL, $7 limit.
 */
export const LIST_DELIVERIES = sql<DeliveryRow>(
  'webhooks.listDeliveries',
  `
  SELECT ${DELIVERY_COLUMNS}
    FROM webhook_deliveries
   WHERE webhook_id = $1 AND user_id = $2
     AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR event_type = $4)
     AND ($5::timestamptz IS NULL OR (created_at, id) < ($5::timestamptz, $6::uuid))
   ORDER BY created_at DESC, id DESC LIMIT $7`,
);

/** $1 delivery id, $2 webhook id, $3 user id. */
export const FIND_DELIVERY = sql<DeliveryRow>(
  'webhooks.findDelivery',
  `
  SELECT ${DELIVERY_COLUMNS}
    FROM webhook_deliveries
   WHERE id = $1 AND webhook_id = $2 AND user_id = $3`,
);

/** The attempts of delivery $2 of user $1, oldest first. */
export const LIST_ATTEMPTS = sql<AttemptRow>(
  'webhooks.listAttempts',
  `
  SELECT a.attempted_at, a.status_code, a.duration_ms, a.error, a.response_body
    FROM webhook_delivery_attempts a
   WHERE a.delivery_id = $2
     AND EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.id = $2 AND d.user_id = $1)
   ORDER BY a.attempted_at, a.id`,
);

/** failed → pending now, and wakes the dispatchers. $1 delivery id, $2 webhook id, $3 user id. */
export const RETRY_DELIVERY = sql<DeliveryRow>(
  'webhooks.retryDelivery',
  `
  UPDATE webhook_deliveries SET ${REARM}
   WHERE id = $1 AND webhook_id = $2 AND user_id = $3 AND status = 'failed'
  RETURNING ${DELIVERY_COLUMNS}, pg_notify('${WEBHOOKS_CHANNEL}', '')`,
);

/**
 * A new delivery of one of the user's events to this endpoint (same event id, so same
 * webhook-id). $1 user id, $2 webhook id, $3 event id.
 */
export const REPLAY_EVENT = sql<DeliveryRow>(
  'webhooks.replayEvent',
  `
  INSERT INTO webhook_deliveries (webhook_id, event_id, user_id, event_type)
  SELECT $2, e.id, e.user_id, e.type FROM webhook_events e WHERE e.id = $3 AND e.user_id = $1
  RETURNING ${DELIVERY_COLUMNS}`,
);

/**
 * Re-arms every failed delivery of the endpoint created in [$3, $4), and wakes the dispatchers.
 * $1 webhook id, $2 user id.
 */
export const RECOVER_DELIVERIES = sql<{ id: string }>(
  'webhooks.recover',
  `
  UPDATE webhook_deliveries SET ${REARM}
   WHERE webhook_id = $1 AND user_id = $2 AND status = 'failed' AND created_at >= $3 AND created_at < $4
  RETURNING id, pg_notify('${WEBHOOKS_CHANNEL}', '')`,
);
