import { SetMetadata } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

/** Metadata of `@CachedEndpoint`, read by the cache module's global interceptor. */
export const CACHED_ENDPOINT = 'conveyor:cached-endpoint';

export interface CachedEndpointOptions {
  /** Seconds an entry lives: the bound on staleness when an invalidation is lost. */
  ttl: number;
  /** The key's first part: `{keyPrefix}:{userId}:{path params…}`. Must match what the invalidation deletes. */
  keyPrefix: string;
  /**
   * What else the response depends on, appended to the key (like HTTP's `Vary`): e.g. the docs'
   * samples name the address the caller reached the server on, so a caller going through a proxy
   * and one going direct must not share an entry. `undefined`: this request is not cached at all
   * (how a route bounds the number of variants a client can make it store).
   */
  vary?: (request: FastifyRequest) => string | undefined;
}

/**
 * Caches a GET handler's 200 response per user (`X-Cache: HIT|MISS`). Keys always hold the
 * caller's user id, so a hit is always the caller's own object; requests with a query string
 * are not cached. Only metadata: CacheInterceptor (modules/cache, global) acts on it, so any
 * feature module can mark a route without depending on the cache module.
 */
export const CachedEndpoint = (options: CachedEndpointOptions): MethodDecorator =>
  SetMetadata(CACHED_ENDPOINT, options);
