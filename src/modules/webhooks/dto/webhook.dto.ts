import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsOptional,
  IsString,
  MaxLength,
} from 'class-validator';
import { IsIsoDate } from '../../../common/http/dates.js';
import { PageQueryDto } from '../../../common/pagination/pagination.js';
import { EVENT_TYPES } from '../event-catalog.js';

/**
 * What an endpoint may subscribe to: any catalog type, or "*". `webhook.test` is accepted because
 * the spec lists it, but changes nothing: POST /webhooks/{id}/test sends it to that endpoint whatever
 * it subscribes to, and no other event is ever a `webhook.test`.
 */
export const SUBSCRIBABLE = [...EVENT_TYPES, '*'];
export const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export class CreateWebhookDto {
  @ApiProperty({ example: 'https://example.com/conveyor/webhooks', description: 'https unless WEBHOOK_ALLOW_HTTP' })
  @IsString()
  @MaxLength(2048)
  url: string;

  @ApiProperty({ example: ['job.completed', 'job.failed'], description: 'Event types, or ["*"] for all' })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(50)
  @ArrayUnique()
  @IsIn(SUBSCRIBABLE, { each: true, message: `each value in events must be one of: ${SUBSCRIBABLE.join(', ')}` })
  events: string[];

  @ApiPropertyOptional({ example: 'Production receiver' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;
}

/** Partial update: only the fields sent change. `active: true` re-enables a disabled endpoint. */
export class UpdateWebhookDto {
  @ApiPropertyOptional({ example: 'https://example.com/conveyor/webhooks' })
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  url?: string;

  @ApiPropertyOptional({ example: ['*'] })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(50)
  @ArrayUnique()
  @IsIn(SUBSCRIBABLE, { each: true, message: `each value in events must be one of: ${SUBSCRIBABLE.join(', ')}` })
  events?: string[];

  @ApiPropertyOptional({ nullable: true, type: String })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;

  @ApiPropertyOptional({ description: 'false pauses deliveries; true re-enables an endpoint that was disabled' })
  @IsOptional()
  @IsBoolean()
  active?: boolean;
}

export class RecoverDto {
  @ApiProperty({ format: 'date-time', description: 'Re-send failed deliveries created at or after this time' })
  @IsIsoDate()
  since: Date;

  @ApiPropertyOptional({ format: 'date-time', description: '…and before this time (default: now)' })
  @IsOptional()
  @IsIsoDate()
  until?: Date;
}

export class ListDeliveriesQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: DELIVERY_STATUSES })
  @IsOptional()
  @IsIn(DELIVERY_STATUSES)
  status?: DeliveryStatus;

  @ApiPropertyOptional({ enum: EVENT_TYPES })
  @IsOptional()
  @IsIn(EVENT_TYPES)
  eventType?: string;
}

export class WebhookResponseDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: 'https://example.com/conveyor/webhooks' }) url: string;
  @ApiProperty({ example: ['job.completed'] }) events: string[];
  @ApiProperty({ nullable: true, type: String }) description: string | null;
  @ApiProperty({ description: 'false when paused by PUT, or disabled after 410 or continuous failure' })
  active: boolean;
  @ApiProperty({ nullable: true, type: String, example: null, description: 'Why the endpoint was disabled' })
  disabledReason: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) updatedAt: string;
}

export class WebhookWithSecretDto extends WebhookResponseDto {
  @ApiProperty({
    example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw3Dp8TQj7rR0=',
    description: 'The signing secret. Shown only in this response: store it now.',
  })
  secret: string;
}

export class DeliveryResponseDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) webhookId: string;
  @ApiProperty({ example: 'evt_0b5c2f0e8d1a4c559a432f6f1b7f0c11', description: 'Also the webhook-id header' })
  eventId: string;
  @ApiProperty({ example: 'job.completed' }) eventType: string;
  @ApiProperty({ enum: DELIVERY_STATUSES }) status: DeliveryStatus;
  @ApiProperty({ example: 1 }) attemptCount: number;
  @ApiProperty({ format: 'date-time', nullable: true, type: String, description: 'When pending: next try' })
  nextAttemptAt: string | null;
  @ApiProperty({ nullable: true, type: Number, example: 200 }) lastStatusCode: number | null;
  @ApiProperty({ nullable: true, type: String }) lastError: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) deliveredAt: string | null;
}

export class DeliveryAttemptDto {
  @ApiProperty({ format: 'date-time' }) attemptedAt: string;
  @ApiProperty({ nullable: true, type: Number, example: 503, description: 'null when no response arrived' })
  statusCode: number | null;
  @ApiProperty({ example: 87 }) durationMs: number;
  @ApiProperty({ nullable: true, type: String, example: 'No complete response within 10000 ms' })
  error: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'The first 2 KB of the response body' })
  responseBody: string | null;
}

export class DeliveryDetailDto extends DeliveryResponseDto {
  @ApiProperty({ type: [DeliveryAttemptDto], description: 'Every attempt, oldest first' })
  attempts: DeliveryAttemptDto[];
}

export class TestEventResponseDto {
  @ApiProperty({ example: 'evt_0b5c2f0e8d1a4c559a432f6f1b7f0c11' }) eventId: string;
  @ApiProperty({ format: 'uuid' }) deliveryId: string;
}

export class RecoverResponseDto {
  @ApiProperty({ example: 12, description: 'Failed deliveries queued again' }) recovered: number;
}

export class EventTypeDto {
  @ApiProperty({ example: 'job.completed' }) type: string;
  @ApiProperty() description: string;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'JSON Schema of the event’s `data`' })
  schema: Record<string, unknown>;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'A complete example envelope' })
  example: Record<string, unknown>;
}
