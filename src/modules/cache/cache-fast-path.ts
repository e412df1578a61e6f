import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { ApiKeyAuthenticator, bearerKey } from '../../common/auth/auth.guard.js';
import { DomainError } from '../../common/errors/domain-error.js';
import type { CachedEndpointOptions } from '../../common/cache/cached-endpoint.decorator.js';
import { rateLimitHeaders, rateLimitedError } from '../rate-limit/rate-limit.guard.js';
import { RateLimiter, type RateCheck } from '../rate-limit/rate-limiter.service.js';
import { CacheService } from './cache.service.js';

/**
 * The cache key of a marked route's response for a user:
 * `{keyPrefix}:{userId}:{path params, by name}[:{vary}]`; undefined when the route's `vary` says
 * this request is not to be cached.
 */
export function cacheKeyOf(
  options: CachedEndpointOptions,
  userId: string,
  request: FastifyRequest,
): string | undefined {
  const values = (request.params ?? {}) as Record<string, string>;
  const names = Object.keys(values).sort();
  // Lower case: path ids are UUIDs, accepted in either case, and invalidations name them as the
  // database spells them.
  const parts = [options.keyPrefix, userId, ...names.map((name) => values[name].toLowerCase())];
  if (options.vary) {
    const variant = options.vary(request);
    if (variant === undefined) return undefined;
    parts.push(variant);
  }
  return parts.join(':');
}

interface FastRoute {
  options: CachedEndpointOptions;
  cost: number;
}

/**
 * Cached reads answered before Nest's pipeline: a GET of a route marked `@CachedEndpoint` whose
 * response this process holds in memory (the local level, or the memory store) is answered from
 * a Fastify `onRequest` hook, after the same authentication (ApiKeyAuthenticator, the per-instance
 * principal cache) and the same rate-limit charge (RateLimiter, Redis) the guards make. Nest's
 * router, guards, interceptors and rxjs cost most of a cached read (profiled); this is the
 * request path an API's most frequent call (polling a job) deserves.
 *
 * Anything else goes the normal way, untouched: a route not learned yet, a query string,
 * `Cache-Control: no-cache`, no or an unknown key (the guard's 401), no local copy (the
 * interceptor asks Redis, then the database). Routes are learned from CacheInterceptor, i.e. only
 * after Nest itself served them, and only those that need no role.
 */
@Injectable()
export class CacheFastPath {
  /** Fastify's route pattern (e.g. /api/v1/jobs/:id) → its options and rate cost. */
  private readonly routes = new Map<string, FastRoute>();
  /** Responses it sent since start (the rest of the cache's hits came through Nest). */
  served = 0;

  constructor(
    private readonly authenticator: ApiKeyAuthenticator,
    private readonly limiter: RateLimiter,
    private readonly cache: CacheService,
  ) {}

  learn(route: string | undefined, options: CachedEndpointOptions, cost: number): void {
    if (route && !this.routes.has(route)) this.routes.set(route, { options, cost });
  }

  readonly hook: onRequestHookHandler = (request, reply, done) => {
    const route = request.method === 'GET' ? this.routes.get(request.routeOptions.url ?? '') : undefined;
    const key = route && !request.url.includes('?') ? bearerKey(request.headers.authorization) : undefined;
    if (!route || !key || /\bno-cache\b/i.test(request.headers['cache-control'] ?? '')) return done();
    this.serve(request, reply, route, key).then(
      (served) => {
        if (!served) done();
      },
      (error: unknown) => done(error as Error),
    );
  };

  /** True when it answered (the hook chain stops); false to go on to Nest. */
  private async serve(request: FastifyRequest, reply: FastifyReply, route: FastRoute, key: string): Promise<boolean> {
    const principal = await this.authenticator.authenticate(key);
    // The guard's own 401 (every learned route needs a key): asking the database a second time
    // for an unknown key would double the cost of a flood of bad keys.
    if (!principal) throw new DomainError('UNAUTHORIZED', 'Invalid or revoked API key');
    const cacheKey = cacheKeyOf(route.options, principal.userId, request);
    if (cacheKey === undefined || !this.cache.peekLocal(cacheKey, { count: false })) return false;
    request.principal = principal;
    // The key's version comes with the limiter's check (one EVALSHA reads it): a copy older than a
    // write some client was answered for is not served. Cost 0: a route that is not limited
    // (RateCost): no charge, no headers, and the version read on its own.
    let check: RateCheck | undefined;
    let version: number | undefined;
    if (route.cost === 0) {
      version = await this.cache.currentVersion(cacheKey);
    } else {
      const versionKey = this.cache.versionKey(cacheKey);
      check = await this.limiter.check(principal, route.cost, versionKey);
      // No version key: a memory store (versions never move). No answer from Redis: unknown.
      version = versionKey === undefined ? 0 : check.read === undefined ? undefined : Number(check.read);
      if (!check.allowed) throw rateLimitedError(check);
    }
    // The copy again, after the round trip: an invalidation may have come meanwhile, or the version
    // moved. Then Nest answers, with this charge (the guard does not charge twice).
    const found = this.cache.peekLocal(cacheKey, { version });
    if (!found) {
      request.rateCheck = check;
      return false;
    }
    if (check) void reply.headers(rateLimitHeaders(check));
    void reply.code(200).header('x-cache', 'HIT').type('application/json; charset=utf-8').send(found.text);
    this.served += 1;
    return true;
  }
}
