import { SetMetadata } from '@nestjs/common';

export const RATE_COST = 'conveyor:rate-cost';

/**
 * How many requests of the caller's per-minute allowance this operation uses (default 1), for
 * operations that cost the service much more than a read: a batch upload, a results download, a
 * webhook test. A handler decorator only, like `@Public()`.
 */
export const RateCost = (units: number): MethodDecorator => SetMetadata(RATE_COST, units);

/** The costs Conveyor uses; the API integration guide lists them. */
export const RATE_COSTS = { batchSubmit: 10, batchResults: 5, webhookTest: 5 } as const;
