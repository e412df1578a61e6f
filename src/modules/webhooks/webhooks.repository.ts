import { Injectable } from '@nestjs/common';
import type { Keyset } from '../../common/pagination/pagination.js';
import { Db } from '../../database/db.js';
import type { DeliveryStatus } from './dto/webhook.dto.js';
import {
  FIND_DELIVERY,
  FIND_WEBHOOK,
  INSERT_TEST_EVENT,
  INSERT_WEBHOOK,
  LOCK_WEBHOOK_OWNER,
  LIST_ATTEMPTS,
  LIST_DELIVERIES,
  LIST_WEBHOOKS,
  RECOVER_DELIVERIES,
  REPLAY_EVENT,
  RETRY_DELIVERY,
  ROTATE_WEBHOOK_SECRET,
  SOFT_DELETE_WEBHOOK,
  UPDATE_WEBHOOK,
  type AttemptRow,
  type DeliveryRow,
  type WebhookRow,
} from './webhooks.sql.js';

export { PREVIOUS_SECRET_HOURS } from './webhooks.sql.js';
export type { AttemptRow, DeliveryRow, WebhookRow } from './webhooks.sql.js';

export interface WebhookPatch {
  url?: string;
  events?: string[];
  description?: string;
  active?: boolean;
}

/** The Webhooks API's reads and writes. Every method takes the owner; soft-deleted endpoints are invisible. */
@Injectable()
export class WebhooksRepository {
  constructor(private readonly db: Db) {}

  /** Inserts an endpoint unless the user already has `maxEndpoints` (then undefined); concurrent calls cannot overshoot. */
  insert(
    userId: string,
    url: string,
    events: string[],
    description: string | null,
    secret: string,
    maxEndpoints: number,
  ): Promise<WebhookRow | undefined> {
    return this.db.transaction(async (tx) => {
      await tx.query(LOCK_WEBHOOK_OWNER, [userId]);
      const rows = await tx.query(INSERT_WEBHOOK, [userId, url, events, description, secret, maxEndpoints]);
      return rows[0];
    });
  }

  list(userId: string, limit: number, after?: Keyset): Promise<WebhookRow[]> {
    return this.db.query(LIST_WEBHOOKS, [userId, after?.createdAt ?? null, after?.id ?? null, limit + 1]);
  }

  async find(userId: string, id: string): Promise<WebhookRow | undefined> {
    const rows = await this.db.query(FIND_WEBHOOK, [id, userId]);
    return rows[0];
  }

  /** Only the fields present change. Re-enabling clears the disabled reason and the failure streak. */
  async update(userId: string, id: string, patch: WebhookPatch): Promise<WebhookRow | undefined> {
    const rows = await this.db.query(UPDATE_WEBHOOK, [
      id,
      userId,
      patch.url ?? null,
      patch.events ?? null,
      patch.description !== undefined,
      patch.description ?? null,
      patch.active ?? null,
    ]);
    return rows[0];
  }

  /** Soft delete: its delivery history stays readable to nobody, and pending deliveries end as failed. */
  async softDelete(userId: string, id: string): Promise<boolean> {
    const rows = await this.db.query(SOFT_DELETE_WEBHOOK, [id, userId]);
    return rows.length > 0;
  }

  /** The current secret becomes the previous one, signing for PREVIOUS_SECRET_HOURS more. */
  async rotateSecret(userId: string, id: string, secret: string): Promise<WebhookRow | undefined> {
    const rows = await this.db.query(ROTATE_WEBHOOK_SECRET, [id, userId, secret]);
    return rows[0];
  }

  /** A webhook.test event and its one delivery, to this endpoint only. */
  async createTestEvent(
    userId: string,
    webhookId: string,
    data: unknown,
  ): Promise<{ event_id: string; delivery_id: string }> {
    const rows = await this.db.query(INSERT_TEST_EVENT, [userId, webhookId, JSON.stringify(data)]);
    return rows[0];
  }

  listDeliveries(
    userId: string,
    webhookId: string,
    filters: { status?: DeliveryStatus; eventType?: string },
    limit: number,
    after?: Keyset,
  ): Promise<DeliveryRow[]> {
    return this.db.query(LIST_DELIVERIES, [
      webhookId,
      userId,
      filters.status ?? null,
      filters.eventType ?? null,
      after?.createdAt ?? null,
      after?.id ?? null,
      limit + 1,
    ]);
  }

  async findDelivery(userId: string, webhookId: string, id: string): Promise<DeliveryRow | undefined> {
    const rows = await this.db.query(FIND_DELIVERY, [id, webhookId, userId]);
    return rows[0];
  }

  /** The attempts of one of the user's deliveries, oldest first. */
  attempts(userId: string, deliveryId: string): Promise<AttemptRow[]> {
    return this.db.query(LIST_ATTEMPTS, [userId, deliveryId]);
  }

  /** failed → pending now. Undefined when there is no such failed delivery. */
  async retryDelivery(userId: string, webhookId: string, id: string): Promise<DeliveryRow | undefined> {
    const rows = await this.db.query(RETRY_DELIVERY, [id, webhookId, userId]);
    return rows[0];
  }

  /** A new delivery of one of the user's events to this endpoint (same event id, so same webhook-id). */
  async replayEvent(userId: string, webhookId: string, eventId: string): Promise<DeliveryRow | undefined> {
    const rows = await this.db.query(REPLAY_EVENT, [userId, webhookId, eventId]);
    return rows[0];
  }

  /** Re-arms every failed delivery of the endpoint created in [since, until); returns how many. */
  async recover(userId: string, webhookId: string, since: Date, until: Date): Promise<number> {
    const rows = await this.db.query(RECOVER_DELIVERIES, [webhookId, userId, since, until]);
    return rows.length;
  }
}
