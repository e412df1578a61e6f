import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { of, tap, type Observable } from 'rxjs';
import { REQUIRED_ROLE } from '../../common/auth/auth.decorators.js';
import { rateCostOf } from '../rate-limit/rate-cost.decorator.js';
import { CacheFastPath, cacheKeyOf } from './cache-fast-path.js';
import { CacheService, type Lookup } from './cache.service.js';
import { CACHED_ENDPOINT, type CachedEndpointOptions } from '../../common/cache/cached-endpoint.decorator.js';

/** Serves `@CachedEndpoint` handlers from the cache, and stores what they return. */
@Injectable()
export class CacheInterceptor implements NestInterceptor {
  constructor(
    private readonly cache: CacheService,
    private readonly reflector: Reflector,
    private readonly fastPath: CacheFastPath,
  ) {}

  /** Global: synchronous (no promise) for the routes it leaves alone. */
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> | Promise<Observable<unknown>> {
    const options = this.reflector.get<CachedEndpointOptions | undefined>(CACHED_ENDPOINT, context.getHandler());
    if (!options) return next.handle();
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const userId = request.principal?.userId;
    if (!userId || request.url.includes('?')) return next.handle();
    return this.cached(context, next, options, request, userId);
  }

  private async cached(
    context: ExecutionContext,
    next: CallHandler,
    options: CachedEndpointOptions,
    request: FastifyRequest,
    userId: string,
  ): Promise<Observable<unknown>> {
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    const key = cacheKeyOf(options, userId, request);
    if (key === undefined) return next.handle();
    // From now on this route's copies held in memory are served before Nest (CacheFastPath), with
    // the same authentication and rate charge; never a route that needs a role.
    if (
      request.method === 'GET' &&
      !this.reflector.getAllAndOverride(REQUIRED_ROLE, [context.getHandler(), context.getClass()])
    ) {
      this.fastPath.learn(request.routeOptions.url, options, rateCostOf(this.reflector, context));
    }
    // Taken before the handler reads: an invalidation from now on keeps this response out of the cache.
    const token = this.cache.begin();
    // `Cache-Control: no-cache` (RFC 9111 §5.2.1.4): the client wants the database's answer; it
    // still refreshes the cache.
    const fresh = /\bno-cache\b/i.test(request.headers['cache-control'] ?? '');
    const found: Lookup = fresh
      ? { hit: false, version: await this.cache.currentVersion(key) }
      : await this.cache.lookup(key);
    if (found.hit) {
      void reply.header('x-cache', 'HIT');
      return of(found.value);
    }
    void reply.header('x-cache', 'MISS');
    // Not awaited: the response does not wait for the store (`put` is bounded and never rejects).
    // The version read before the handler's read: the store refuses the value if a client's write moved it since.
    const version = found.version;
    return next.handle().pipe(tap((value) => void this.cache.put(key, value, options.ttl * 1000, token, version)));
  }
}
