import { ApiProperty } from '@nestjs/swagger';

class DatabaseCheckDto {
  @ApiProperty({ enum: ['up', 'down'] }) status: 'up' | 'down';
  @ApiProperty({ type: Number, nullable: true, example: 0.6, description: 'One round trip, ms' }) latencyMs:
    number | null;
  @ApiProperty({ required: false }) message?: string;
}

class ReplicaCheckDto {
  @ApiProperty({ example: 'replica-1.db:5432/conveyor', description: 'host:port/database (never credentials)' })
  name: string;
  @ApiProperty({ enum: ['up', 'down'], description: 'down: its reads go to the primary' }) status: 'up' | 'down';
  @ApiProperty({
    type: Number,
    nullable: true,
    example: 12,
    description: 'How long ago it last held everything committed on the primary, ms (null: never yet)',
  })
  lagMs: number | null;
  @ApiProperty({ required: false, description: 'Why it is down' }) message?: string;
}

class RedisCheckDto {
  @ApiProperty({ enum: ['up', 'down', 'not configured'], description: 'down: caches and limits go on in memory' })
  status: 'up' | 'down' | 'not configured';
  @ApiProperty({ type: Number, nullable: true, example: 0.3 }) latencyMs: number | null;
}

class QueueStateDto {
  @ApiProperty({ example: 120, description: 'Jobs queued, due now or later; counted up to 100,000 (a bounded probe)' })
  queued: number;
  @ApiProperty({ example: 10 }) running: number;
  @ApiProperty({ type: Number, nullable: true, example: 3, description: 'How long the oldest due job has waited' })
  oldestQueuedSeconds: number | null;
}

class WebhookStateDto {
  @ApiProperty({
    example: 4,
    description: 'Deliveries pending (due now or waiting for a retry); counted up to 100,000 (a bounded probe)',
  })
  backlog: number;
  @ApiProperty({ type: Number, nullable: true, example: 1 }) oldestDueSeconds: number | null;
  @ApiProperty({ example: 0, description: 'Endpoints whose deliveries have been failing' }) failingEndpoints: number;
}

class MemoryDto {
  @ApiProperty() rssBytes: number;
  @ApiProperty() heapUsedBytes: number;
  @ApiProperty() heapTotalBytes: number;
}

class DiskDto {
  @ApiProperty({ example: '/app' }) path: string;
  @ApiProperty() freeBytes: number;
  @ApiProperty() totalBytes: number;
}

class EventLoopDto {
  @ApiProperty({ example: 10.1, description: 'Event-loop delay since the previous answer, ms' }) lagP50Ms: number;
  @ApiProperty({ example: 12.4 }) lagP99Ms: number;
}

export class HealthDetailedDto {
  @ApiProperty({ enum: ['ok', 'degraded', 'error'], description: 'error: PostgreSQL is down; degraded: Redis is' })
  status: 'ok' | 'degraded' | 'error';
  @ApiProperty({ example: '0.1.0' }) version: string;
  @ApiProperty({ enum: ['all', 'api', 'worker'] }) role: string;
  @ApiProperty({ example: 3600 }) uptimeSeconds: number;
  @ApiProperty({ description: 'Shutting down: readiness answers 503' }) draining: boolean;
  @ApiProperty({ type: DatabaseCheckDto }) database: DatabaseCheckDto;
  @ApiProperty({
    type: [ReplicaCheckDto],
    description:
      'Each replica of DATABASE_REPLICA_URLS (empty without): down or lagging past DB_REPLICA_MAX_LAG_MS = degraded',
  })
  replicas: ReplicaCheckDto[];
  @ApiProperty({ type: RedisCheckDto }) redis: RedisCheckDto;
  @ApiProperty({ type: QueueStateDto, nullable: true }) queue: QueueStateDto | null;
  @ApiProperty({ type: WebhookStateDto, nullable: true }) webhooks: WebhookStateDto | null;
  @ApiProperty({ type: MemoryDto }) memory: MemoryDto;
  @ApiProperty({ type: DiskDto, nullable: true }) disk: DiskDto | null;
  @ApiProperty({ type: EventLoopDto }) eventLoop: EventLoopDto;
}
