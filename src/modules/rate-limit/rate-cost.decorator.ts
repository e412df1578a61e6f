import { applyDecorators, SetMetadata, type ExecutionContext } from '@nestjs/common';
import { ApiExtension } from '@nestjs/swagger';
import type { Reflector } from '@nestjs/core';

export const RATE_COST = 'conveyor:rate-cost';

/**
 * How many requests of the caller's per-minute allowance this operation uses (default 1), for
 * operations that cost the service much more than a read: a batch upload, a results download, a
 * webhook test. 0 = not limited at all (no charge, no rate-limit headers): use `@NotRateLimited()`,
 * which also documents it. On a handler, or on a controller for all of its handlers (a handler's
 * own value wins).
 */
export const RateCost = (units: number): MethodDecorator & ClassDecorator => SetMetadata(RATE_COST, units);

/** The OpenAPI extension that tells openapi-finish.ts an operation has no 429 and no rate-limit headers. */
export const NOT_RATE_LIMITED_EXTENSION = 'x-not-rate-limited';

/** Not counted against the caller's allowance (`RateCost(0)`), and documented so. On a handler or a controller. */
export const NotRateLimited = (): MethodDecorator & ClassDecorator =>
  applyDecorators(SetMetadata(RATE_COST, 0), ApiExtension(NOT_RATE_LIMITED_EXTENSION, true));

/** The cost of the handler of `context` (its own, else its controller's, else 1). */
export function rateCostOf(reflector: Reflector, context: ExecutionContext): number {
  return reflector.getAllAndOverride<number | undefined>(RATE_COST, [context.getHandler(), context.getClass()]) ?? 1;
}

/** The costs Conveyor uses; the API integration guide lists them. */
export const RATE_COSTS = { batchSubmit: 10, batchResults: 5, webhookTest: 5 } as const;
