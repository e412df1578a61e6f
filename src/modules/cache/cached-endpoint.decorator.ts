import { applyDecorators, SetMetadata, UseInterceptors } from '@nestjs/common';
import { CACHED_ENDPOINT } from './cache-keys.js';
import { CacheInterceptor } from './cache.interceptor.js';

export interface CachedEndpointOptions {
  /** Seconds an entry lives: the bound on staleness when an invalidation is lost. */
  ttl: number;
  /** The key's first part: `{keyPrefix}:{userId}:{path params…}`. Must match what the invalidation deletes. */
  keyPrefix: string;
}

/**
 * Caches a GET handler's 200 response per user (`X-Cache: HIT|MISS`). Keys always hold the
 * caller's user id, so a hit is always the caller's own object; requests with a query string
 * are not cached.
 */
export const CachedEndpoint = (options: CachedEndpointOptions): MethodDecorator =>
  applyDecorators(SetMetadata(CACHED_ENDPOINT, options), UseInterceptors(CacheInterceptor));
