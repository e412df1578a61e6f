import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Keyset } from '../../common/pagination/pagination.js';
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

export interface WebhookPatch {
  url?: string;
  events?: string[];
  description?: string;
  active?: boolean;
}

/** How long a rotated-out secret keeps signing next to the new one (SPEC: 24 h). */
export const PREVIOUS_SECRET_HOURS = 24;

const WEBHOOK_COLUMNS = `id, user_id, url, events, description, active, disabled_reason, secret_encrypted,
  previous_secret_encrypted, previous_secret_expires_at, created_at, updated_at, created_at::text AS cursor_ts`;
const DELIVERY_COLUMNS = `id, webhook_id, event_id, event_type, status, attempts, next_attempt_at, last_status_code,
  last_error, created_at, delivered_at, created_at::text AS cursor_ts`;

/** Re-arms deliveries: pending now, the retry schedule restarting from the current attempt count. */
const REARM = `status = 'pending', next_attempt_at = now(), retry_base = attempts, locked_until = NULL, updated_at = now()`;

/**
 * SQL of the Webhooks API. Every statement takes the owner; soft-deleted endpoints are invisible.
 * TypeORM returns `[rows, count]` for a bare UPDATE/DELETE, so those whose rows we read are CTEs.
 */
@Injectable()
export class WebhooksRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async insert(userId: string, url: string, events: string[], description: string | null, secret: string) {
    const rows: WebhookRow[] = await this.db.query(
      `INSERT INTO webhooks (user_id, url, events, description, secret_encrypted) VALUES ($1, $2, $3, $4, $5)
       RETURNING ${WEBHOOK_COLUMNS}`,
      [userId, url, events, description, secret],
    );
    return rows[0];
  }

  list(userId: string, limit: number, after?: Keyset): Promise<WebhookRow[]> {
    return this.db.query(
      `SELECT ${WEBHOOK_COLUMNS} FROM webhooks
        WHERE user_id = $1 AND deleted_at IS NULL
          AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
        ORDER BY created_at DESC, id DESC LIMIT $4`,
      [userId, after?.createdAt ?? null, after?.id ?? null, limit + 1],
    );
  }

  async find(userId: string, id: string): Promise<WebhookRow | undefined> {
    const rows: WebhookRow[] = await this.db.query(
      `SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL`,
      [id, userId],
    );
    return rows[0];
  }

  /** Only the fields present change. Re-enabling clears the disabled reason and the failure streak. */
  async update(userId: string, id: string, patch: WebhookPatch): Promise<WebhookRow | undefined> {
    const rows: WebhookRow[] = await this.db.query(
      `WITH updated AS (
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
        RETURNING *)
       SELECT ${WEBHOOK_COLUMNS} FROM updated`,
      [
        id,
        userId,
        patch.url ?? null,
        patch.events ?? null,
        patch.description !== undefined,
        patch.description ?? null,
        patch.active ?? null,
      ],
    );
    return rows[0];
  }

  /** Soft delete: its delivery history stays readable to nobody, and pending deliveries end as failed. */
  async softDelete(userId: string, id: string): Promise<boolean> {
    const rows: unknown[] = await this.db.query(
      `WITH deleted AS (
         UPDATE webhooks SET deleted_at = now(), active = false, updated_at = now()
          WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL RETURNING id)
       SELECT id FROM deleted`,
      [id, userId],
    );
    return rows.length > 0;
  }

  /** The current secret becomes the previous one, signing for PREVIOUS_SECRET_HOURS more. */
  async rotateSecret(userId: string, id: string, secret: string): Promise<WebhookRow | undefined> {
    const rows: WebhookRow[] = await this.db.query(
      `WITH rotated AS (
         UPDATE webhooks SET previous_secret_encrypted = secret_encrypted,
                previous_secret_expires_at = now() + make_interval(hours => ${PREVIOUS_SECRET_HOURS}),
                secret_encrypted = $3, updated_at = now()
          WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL
         RETURNING *)
       SELECT ${WEBHOOK_COLUMNS} FROM rotated`,
      [id, userId, secret],
    );
    return rows[0];
  }

  /** A webhook.test event and its one delivery, to this endpoint only. */
  async createTestEvent(userId: string, webhookId: string, data: unknown) {
    const rows: Array<{ event_id: string; delivery_id: string }> = await this.db.query(
      `WITH event AS (
         INSERT INTO webhook_events (user_id, type, data) VALUES ($1, 'webhook.test', $3) RETURNING id)
       INSERT INTO webhook_deliveries (webhook_id, event_id, user_id, event_type)
       SELECT $2, event.id, $1, 'webhook.test' FROM event
       RETURNING event_id, id AS delivery_id`,
      [userId, webhookId, JSON.stringify(data)],
    );
    return rows[0];
  }

  listDeliveries(
    userId: string,
    webhookId: string,
    filters: { status?: DeliveryStatus; eventType?: string },
    limit: number,
    after?: Keyset,
  ): Promise<DeliveryRow[]> {
    return this.db.query(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries
        WHERE webhook_id = $1 AND user_id = $2
          AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR event_type = $4)
          AND ($5::timestamptz IS NULL OR (created_at, id) < ($5::timestamptz, $6::uuid))
        ORDER BY created_at DESC, id DESC LIMIT $7`,
      [
        webhookId,
        userId,
        filters.status ?? null,
        filters.eventType ?? null,
        after?.createdAt ?? null,
        after?.id ?? null,
        limit + 1,
      ],
    );
  }

  async findDelivery(userId: string, webhookId: string, id: string): Promise<DeliveryRow | undefined> {
    const rows: DeliveryRow[] = await this.db.query(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1 AND webhook_id = $2 AND user_id = $3`,
      [id, webhookId, userId],
    );
    return rows[0];
  }

  attempts(deliveryId: string): Promise<AttemptRow[]> {
    return this.db.query(
      `SELECT attempted_at, status_code, duration_ms, error, response_body FROM webhook_delivery_attempts
        WHERE delivery_id = $1 ORDER BY attempted_at, id`,
      [deliveryId],
    );
  }

  /** failed → pending now. Undefined when there is no such failed delivery. */
  async retryDelivery(userId: string, webhookId: string, id: string): Promise<DeliveryRow | undefined> {
    const rows: DeliveryRow[] = await this.db.query(
      `WITH rearmed AS (
         UPDATE webhook_deliveries SET ${REARM}
          WHERE id = $1 AND webhook_id = $2 AND user_id = $3 AND status = 'failed'
         RETURNING *)
       SELECT ${DELIVERY_COLUMNS}, pg_notify('${WEBHOOKS_CHANNEL}', '') FROM rearmed`,
      [id, webhookId, userId],
    );
    return rows[0];
  }

  /** A new delivery of one of the user's events to this endpoint (same event id, so same webhook-id). */
  async replayEvent(userId: string, webhookId: string, eventId: string): Promise<DeliveryRow | undefined> {
    const rows: DeliveryRow[] = await this.db.query(
      `INSERT INTO webhook_deliveries (webhook_id, event_id, user_id, event_type)
       SELECT $2, e.id, e.user_id, e.type FROM webhook_events e WHERE e.id = $3 AND e.user_id = $1
       RETURNING ${DELIVERY_COLUMNS}`,
      [userId, webhookId, eventId],
    );
    return rows[0];
  }

  /** Re-arms every failed delivery of the endpoint created in [since, until); returns how many. */
  async recover(userId: string, webhookId: string, since: Date, until: Date): Promise<number> {
    const rows: unknown[] = await this.db.query(
      `WITH rearmed AS (
         UPDATE webhook_deliveries SET ${REARM}
          WHERE webhook_id = $1 AND user_id = $2 AND status = 'failed' AND created_at >= $3 AND created_at < $4
         RETURNING id)
       SELECT id, pg_notify('${WEBHOOKS_CHANNEL}', '') FROM rearmed`,
      [webhookId, userId, since, until],
    );
    return rows.length;
  }
}
