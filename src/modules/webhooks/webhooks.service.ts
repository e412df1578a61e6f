import { Injectable } from '@nestjs/common';
import { DomainError, NotFoundError } from '../../common/errors/domain-error.js';
import { decodeCursor, toPage, type Page } from '../../common/pagination/pagination.js';
import { SecretBox } from '../../common/crypto/secret-box.js';
import { AppConfig } from '../../config/config.js';
import type {
  CreateWebhookDto,
  DeliveryDetailDto,
  DeliveryResponseDto,
  EventTypeDto,
  ListDeliveriesQueryDto,
  RecoverDto,
  TestEventResponseDto,
  UpdateWebhookDto,
  WebhookResponseDto,
  WebhookWithSecretDto,
} from './dto/webhook.dto.js';
import { EVENT_CATALOG, EVENT_TYPES, fromEventId, toEventId } from './event-catalog.js';
import { generateWebhookSecret } from './signing.js';
import { WebhookUrlGuard } from './webhook-url.guard.js';
import { WebhooksRepository, type DeliveryRow, type WebhookRow } from './webhooks.repository.js';
import type { PageQueryDto } from '../../common/pagination/pagination.js';

function toWebhook(row: WebhookRow): WebhookResponseDto {
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    description: row.description,
    active: row.active,
    disabledReason: row.disabled_reason,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

function toDelivery(row: DeliveryRow): DeliveryResponseDto {
  return {
    id: row.id,
    webhookId: row.webhook_id,
    eventId: toEventId(row.event_id),
    eventType: row.event_type,
    status: row.status,
    attemptCount: row.attempts,
    nextAttemptAt: row.status === 'pending' ? row.next_attempt_at.toISOString() : null,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    createdAt: row.created_at.toISOString(),
    deliveredAt: row.delivered_at?.toISOString() ?? null,
  };
}

@Injectable()
export class WebhooksService {
  constructor(
    private readonly repo: WebhooksRepository,
    private readonly urls: WebhookUrlGuard,
    private readonly secrets: SecretBox,
    private readonly config: AppConfig,
  ) {}

  eventTypes(): EventTypeDto[] {
    return EVENT_TYPES.map((type) => ({
      type,
      description: EVENT_CATALOG[type].description,
      schema: EVENT_CATALOG[type].schema,
      example: {
        id: 'evt_2f1c9a7b3d4e4f5a8b6c7d8e9f0a1b2c',
        type,
        createdAt: '2026-11-28T12:00:01.000Z',
        data: EVENT_CATALOG[type].example,
      },
    }));
  }

  async create(userId: string, dto: CreateWebhookDto): Promise<WebhookWithSecretDto> {
    await this.urls.assertAllowed(dto.url);
    const secret = generateWebhookSecret();
    const max = this.config.webhooks.maxEndpoints;
    const row = await this.repo.insert(
      userId,
      dto.url,
      dto.events,
      dto.description ?? null,
      this.secrets.encrypt(secret),
      max,
    );
    if (!row) {
      throw new DomainError(
        'CONFLICT',
        `You already have ${max} webhook endpoints, the most allowed; delete one (DELETE /webhooks/{id}) before adding another`,
      );
    }
    return { ...toWebhook(row), secret };
  }

  async list(userId: string, query: PageQueryDto): Promise<Page<WebhookResponseDto>> {
    const rows = await this.repo.list(userId, query.limit, decodeCursor(query.cursor));
    return toPage(rows, query.limit, toWebhook);
  }

  async get(userId: string, id: string): Promise<WebhookResponseDto> {
    return toWebhook(await this.find(userId, id));
  }

  async update(userId: string, id: string, dto: UpdateWebhookDto): Promise<WebhookResponseDto> {
    if (dto.url !== undefined) await this.urls.assertAllowed(dto.url);
    const row = await this.repo.update(userId, id, dto);
    if (!row) throw new NotFoundError('Webhook');
    return toWebhook(row);
  }

  async remove(userId: string, id: string): Promise<void> {
    if (!(await this.repo.softDelete(userId, id))) throw new NotFoundError('Webhook');
  }

  async rotateSecret(userId: string, id: string): Promise<WebhookWithSecretDto> {
    const secret = generateWebhookSecret();
    const row = await this.repo.rotateSecret(userId, id, this.secrets.encrypt(secret));
    if (!row) throw new NotFoundError('Webhook');
    return { ...toWebhook(row), secret };
  }

  async sendTest(userId: string, id: string): Promise<TestEventResponseDto> {
    const webhook = await this.find(userId, id);
    this.assertActive(webhook);
    const created = await this.repo.createTestEvent(userId, id, {
      webhookId: id,
      message: 'Test event from Conveyor',
    });
    return { eventId: toEventId(created.event_id), deliveryId: created.delivery_id };
  }

  async listDeliveries(userId: string, id: string, query: ListDeliveriesQueryDto): Promise<Page<DeliveryResponseDto>> {
    await this.find(userId, id);
    const rows = await this.repo.listDeliveries(userId, id, query, query.limit, decodeCursor(query.cursor));
    return toPage(rows, query.limit, toDelivery);
  }

  async getDelivery(userId: string, id: string, deliveryId: string): Promise<DeliveryDetailDto> {
    await this.find(userId, id);
    const row = await this.repo.findDelivery(userId, id, deliveryId);
    if (!row) throw new NotFoundError('Delivery');
    const attempts = await this.repo.attempts(userId, deliveryId);
    return {
      ...toDelivery(row),
      attempts: attempts.map((a) => ({
        attemptedAt: a.attempted_at.toISOString(),
        statusCode: a.status_code,
        durationMs: a.duration_ms,
        error: a.error,
        responseBody: a.response_body,
      })),
    };
  }

  async retryDelivery(userId: string, id: string, deliveryId: string): Promise<DeliveryResponseDto> {
    this.assertActive(await this.find(userId, id));
    const row = await this.repo.retryDelivery(userId, id, deliveryId);
    if (row) return toDelivery(row);
    const existing = await this.repo.findDelivery(userId, id, deliveryId);
    if (!existing) throw new NotFoundError('Delivery');
    throw new DomainError(
      'CONFLICT',
      `Delivery ${deliveryId} is ${existing.status}; only a failed delivery can be retried (replay its event to send it again)`,
    );
  }

  async replayEvent(userId: string, id: string, eventId: string): Promise<DeliveryResponseDto> {
    const uuid = fromEventId(eventId);
    if (!uuid) {
      throw new DomainError('BAD_REQUEST', 'Path parameter "eventId" must be an event id (evt_…)', {
        errors: [{ field: 'eventId', message: 'eventId must look like evt_ followed by 32 hex digits' }],
      });
    }
    this.assertActive(await this.find(userId, id));
    const row = await this.repo.replayEvent(userId, id, uuid);
    if (!row) throw new NotFoundError('Event');
    return toDelivery(row);
  }

  async recover(userId: string, id: string, dto: RecoverDto): Promise<{ recovered: number }> {
    this.assertActive(await this.find(userId, id));
    const until = dto.until ?? new Date();
    if (until <= dto.since) {
      throw new DomainError('VALIDATION_FAILED', 'until must be after since', {
        errors: [{ field: 'until', message: 'until must be after since' }],
      });
    }
    return { recovered: await this.repo.recover(userId, id, dto.since, until) };
  }

  private async find(userId: string, id: string): Promise<WebhookRow> {
    const row = await this.repo.find(userId, id);
    if (!row) throw new NotFoundError('Webhook');
    return row;
  }

  /** Sending to a disabled endpoint would fail at once: say so instead. */
  private assertActive(webhook: WebhookRow): void {
    if (!webhook.active) {
      throw new DomainError(
        'CONFLICT',
        `Webhook ${webhook.id} is disabled (${webhook.disabled_reason ?? 'paused'}); re-enable it with PUT {"active": true}`,
      );
    }
  }
}
