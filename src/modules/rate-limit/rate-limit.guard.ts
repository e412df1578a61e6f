import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../../common/errors/domain-error.js';
import { rateCostOf } from './rate-cost.decorator.js';
import { RATE_PERIOD_MS, RateLimiter, type RateCheck } from './rate-limiter.service.js';

const WINDOW_SECONDS = RATE_PERIOD_MS / 1000;

/**
 * The IETF draft's fields (draft-ietf-httpapi-ratelimit-headers: the policy named after the tier,
 * `q` requests per `w` seconds; `r` left, `t` seconds until the allowance is full again) and the
 * widespread `X-RateLimit-*` trio with the same numbers.
 */
export function rateLimitHeaders(check: RateCheck): Record<string, string> {
  const reset = String(Math.ceil(check.resetMs / 1000));
  return {
    'ratelimit-policy': `"${check.tier}";q=${check.limit};w=${WINDOW_SECONDS}`,
    ratelimit: `"${check.tier}";r=${check.remaining};t=${reset}`,
    'x-ratelimit-limit': String(check.limit),
    'x-ratelimit-remaining': String(check.remaining),
    'x-ratelimit-reset': reset,
  };
}

/**
 * Global guard, after `AuthGuard` (RateLimitModule is imported after AuthModule, and Nest runs
 * global guards in that order): it limits the principal the auth guard found. Routes without a
 * principal — the `@Public()` health probes — are never limited, nor are those of `@RateCost(0)`
 * (the docs endpoints, the detailed health); the Swagger UI and JSON are served by Fastify
 * outside Nest's guards. Over the limit: 429 RATE_LIMITED with `Retry-After`.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly limiter: RateLimiter,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const principal = request.principal;
    if (!principal) return true;
    const cost = rateCostOf(this.reflector, context);
    if (cost === 0) return true;
    // Charged already by the cache's fast path, which then lost its copy to an invalidation.
    const check = request.rateCheck ?? (await this.limiter.check(principal, cost));
    if (!check.allowed) throw rateLimitedError(check);
    http.getResponse<FastifyReply>().headers(rateLimitHeaders(check));
    return true;
  }
}

/** 429 RATE_LIMITED with `Retry-After` and the rate-limit headers. */
export function rateLimitedError(check: RateCheck): DomainError {
  const retryAfter = Math.max(1, Math.ceil(check.retryAfterMs / 1000));
  return new DomainError(
    'RATE_LIMITED',
    `Rate limit of ${check.limit} requests per minute (tier ${check.tier}) reached; retry in ${retryAfter} s`,
    { headers: { ...rateLimitHeaders(check), 'retry-after': String(retryAfter) } },
  );
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when this request's rate-limit charge was made before Nest (CacheFastPath). */
    rateCheck?: RateCheck;
  }
}
