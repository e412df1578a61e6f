import { Injectable } from '@nestjs/common';
import { DomainError } from '../../common/errors/domain-error.js';
import { CacheUnavailableError } from './cache-store.js';
import { CacheService, type CacheStats } from './cache.service.js';
import type { CacheEntryDto, CacheHealthDto, DeletedCountDto } from './dto/cache.dto.js';

/** The admin API's rules: sizes, 404s, and a store that cannot be reached is a 503 (never an empty answer). */
@Injectable()
export class CacheAdminService {
  constructor(private readonly cache: CacheService) {}

  health(): Promise<CacheHealthDto> {
    return this.cache.health();
  }

  stats(): CacheStats {
    return this.cache.stats();
  }

  async get(key: string): Promise<CacheEntryDto> {
    const entry = await reachable(() => this.cache.read(key));
    if (!entry) throw new DomainError('NOT_FOUND', `No cache entry "${key}"`);
    return { key, value: entry.value, ttlSeconds: entry.ttlMs === undefined ? null : entry.ttlMs / 1000 };
  }

  async set(key: string, value: unknown, ttlSeconds: number): Promise<CacheEntryDto> {
    const bytes = Buffer.byteLength(JSON.stringify(value));
    if (bytes > this.cache.maxValueBytes) {
      throw new DomainError(
        'PAYLOAD_TOO_LARGE',
        `value is ${bytes} bytes as JSON; the cache stores at most ${this.cache.maxValueBytes} (CACHE_MAX_VALUE_BYTES)`,
      );
    }
    await reachable(() => this.cache.write(key, value, ttlSeconds * 1000));
    return { key, value, ttlSeconds };
  }

  async delete(key: string): Promise<void> {
    if (!(await reachable(() => this.cache.remove(key)))) throw new DomainError('NOT_FOUND', `No cache entry "${key}"`);
  }

  async deletePrefix(prefix: string): Promise<DeletedCountDto> {
    return { deleted: await reachable(() => this.cache.removePrefix(prefix)) };
  }
}

async function reachable<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof CacheUnavailableError) {
      throw new DomainError('SERVICE_UNAVAILABLE', 'The cache store (Redis) is not reachable; try again later', {
        headers: { 'Retry-After': '1' },
      });
    }
    throw error;
  }
}
