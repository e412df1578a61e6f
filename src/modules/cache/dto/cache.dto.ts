import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ApiJsonValueProperty } from '../../../common/http/api-json-value.decorator.js';
import { IsDefined, IsInt, IsOptional, Matches, Max, Min } from 'class-validator';
import { CACHE_KEY_PATTERN } from '../cache-keys.js';

const KEY_RULE = { message: 'must be 1–100 characters of A–Z, a–z, 0–9, ":", ".", "_" or "-"' };

export class SetCacheEntryDto {
  @ApiJsonValueProperty({
    description: 'Any JSON value; at most CACHE_MAX_VALUE_BYTES as JSON (413 beyond)',
    example: { note: 'warm' },
  })
  @IsDefined()
  value: unknown;

  @ApiPropertyOptional({ minimum: 1, maximum: 86_400, default: 300, description: 'Time to live in seconds' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(86_400)
  ttlSeconds?: number;
}

export class DeleteCachePrefixQueryDto {
  @ApiProperty({ example: 'job:', description: 'Delete every key starting with this (1–100 plain characters)' })
  @Matches(CACHE_KEY_PATTERN, { message: `prefix ${KEY_RULE.message}` })
  prefix: string;
}

export class CacheEntryDto {
  @ApiProperty({ example: 'job:0b9e7a8e-2c1f-4d3e-9a7b-1c2d3e4f5a6b:5f0c6d1e-8a7b-4c3d-9e2f-1a0b9c8d7e6f' })
  key: string;
  @ApiJsonValueProperty({
    description: 'The stored JSON value',
    example: { id: '5f0c6d1e-8a7b-4c3d-9e2f-1a0b9c8d7e6f' },
  })
  value: unknown;
  @ApiProperty({ type: Number, nullable: true, example: 9.5, description: 'Seconds left to live' })
  ttlSeconds: number | null;
}

export class CacheHealthDto {
  @ApiProperty({ enum: ['redis', 'memory'] }) store: 'redis' | 'memory';
  @ApiProperty({ enum: ['up', 'down'], description: 'down: requests go on without the cache' }) status: 'up' | 'down';
  @ApiProperty({ type: Number, nullable: true, example: 0.4, description: 'One round trip, ms' }) latencyMs:
    number | null;
}

export class CacheLocalLevelStatsDto {
  @ApiProperty({ description: 'false with the memory store (it is already in this process) or CACHE_L1_TTL_MS=0' })
  enabled: boolean;
  @ApiProperty({ example: 800, description: 'Lookups answered from this process’s own copy' }) hits: number;
  @ApiProperty({ example: 120 }) entries: number;
}

export class CacheStoreLevelStatsDto {
  @ApiProperty({ example: 100, description: 'Lookups answered by the store (Redis or memory)' }) hits: number;
  @ApiProperty({ example: 100 }) misses: number;
}

export class CacheLevelsStatsDto {
  @ApiProperty({ type: CacheLocalLevelStatsDto }) l1: CacheLocalLevelStatsDto;
  @ApiProperty({ type: CacheStoreLevelStatsDto }) store: CacheStoreLevelStatsDto;
}

export class CacheStatsDto {
  @ApiProperty({ format: 'date-time', description: 'When the counters started (this process’s start)' })
  since: string;
  @ApiProperty({ enum: ['redis', 'memory'] }) store: 'redis' | 'memory';
  @ApiProperty({ example: 900 }) hits: number;
  @ApiProperty({ example: 100 }) misses: number;
  @ApiProperty({ example: 0.9, description: 'hits / (hits + misses); 0 before any lookup' }) hitRate: number;
  @ApiProperty({ example: 3, description: 'Lookups that skipped the store (Redis down, a key being invalidated)' })
  bypassed: number;
  @ApiProperty({ example: 0, description: 'Store operations that failed or timed out' }) errors: number;
  @ApiProperty({ example: 100 }) sets: number;
  @ApiProperty({ example: 250, description: 'Keys invalidated by changes (this instance’s and others’)' })
  invalidations: number;
  @ApiProperty({ type: CacheLevelsStatsDto, description: 'hits is l1.hits + store.hits' })
  levels: CacheLevelsStatsDto;
}

export class DeletedCountDto {
  @ApiProperty({ example: 12 }) deleted: number;
}

export { KEY_RULE };
