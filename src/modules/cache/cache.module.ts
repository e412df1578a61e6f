import { Global, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { AppConfig } from '../../config/config.js';
import { RedisService } from '../../redis/redis.service.js';
import { QueueModule } from '../queue/queue.module.js';
import { RateLimitModule } from '../rate-limit/rate-limit.module.js';
import { MemoryCacheStore, RedisCacheStore, type CacheStore } from './cache-store.js';
import { CacheAdminService } from './cache-admin.service.js';
import { CacheFastPath } from './cache-fast-path.js';
import { CacheInvalidator } from './cache-invalidator.js';
import { CacheController } from './cache.controller.js';
import { CacheInterceptor } from './cache.interceptor.js';
import { CACHE_STORE, CacheService } from './cache.service.js';

/**
 * The response cache: Redis through the shared connection (RedisModule, global) when REDIS_URL is set, else this
 * process's memory; `@CachedEndpoint` on reads; invalidation from the queue's change feed; the
 * admin API. Its interceptor is global, so any controller can use `@CachedEndpoint` without importing it.
 */
@Global()
@Module({
  imports: [QueueModule, RateLimitModule],
  controllers: [CacheController],
  providers: [
    {
      provide: CACHE_STORE,
      inject: [AppConfig, RedisService],
      useFactory: (config: AppConfig, redis: RedisService): CacheStore =>
        config.redisUrl ? new RedisCacheStore(redis) : new MemoryCacheStore(config.cache.memoryMaxEntries),
    },
    CacheService,
    CacheAdminService,
    CacheInterceptor,
    CacheFastPath,
    // Global: it acts only on handlers marked `@CachedEndpoint` (common/cache), so feature modules
    // mark routes without importing this module (webhooks would otherwise close a cycle through queue).
    { provide: APP_INTERCEPTOR, useExisting: CacheInterceptor },
    CacheInvalidator,
  ],
  exports: [CacheService, CacheInterceptor, CacheFastPath],
})
export class CacheModule {}
