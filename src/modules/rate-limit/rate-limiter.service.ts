import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Principal, Tier } from '../../common/auth/principal.js';
import { AppConfig } from '../../config/config.js';
import { RedisService, type RedisClient } from '../../redis/redis.service.js';
import { MemoryGcra, type RateDecision } from './gcra.js';
import { GCRA_LUA } from './gcra.lua.js';

export const RATE_PERIOD_MS = 60_000;
const KEY_PREFIX = 'conveyor:ratelimit:';

/** A decision and the policy it was made under, for the response headers. */
export interface RateCheck extends RateDecision {
  tier: Tier;
  limit: number;
  /**
   * The value of the `alsoRead` key of {@link RateLimiter.check}, read in the same round trip:
   * a string ('' when the key has none), or undefined when Redis did not answer.
   */
  read?: string;
}

/**
 * Requests per minute per user, by tier, with GCRA. With Redis the state is shared by every
 * instance (one EVALSHA per request); without it — `REDIS_URL` unset, Redis down, or slower than
 * the Redis command timeout — each instance keeps its own, so the limits then count per instance.
 *
 * The key includes the tier: after a tier change the new allowance applies from the next request,
 * rather than the new rate having to pay off what the old one used.
 */
@Injectable()
export class RateLimiter implements OnModuleInit, OnApplicationShutdown {
  private readonly memory = new MemoryGcra();
  /** Requests refused since start, by tier (read by the metrics). */
  readonly refused: Record<Tier, number> = { free: 0, pro: 0, enterprise: 0 };
  private sweeper: NodeJS.Timeout | undefined;
  private sha: string | undefined;

  constructor(
    private readonly config: AppConfig,
    private readonly redis: RedisService,
  ) {}

  onModuleInit(): void {
    this.sweeper = setInterval(() => this.memory.sweep(), RATE_PERIOD_MS);
    this.sweeper.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweeper);
  }

  /**
   * Spends `cost` of the caller's allowance, or refuses. A cost above the tier's limit is taken as
   * the whole limit, so an expensive operation stays possible on a small limit.
   * Synchronous (a Map lookup) when Redis is not in use.
   */
  check(principal: Principal, cost: number, alsoRead?: string): RateCheck | Promise<RateCheck> {
    const tier = principal.tier;
    const limit = this.config.rateLimit.perMinute[tier];
    const units = Math.min(cost, limit);
    const key = `${KEY_PREFIX}${tier}:${principal.userId}`;
    if (!this.redis.ready)
      return withPolicy(this.memory.check(key, limit, RATE_PERIOD_MS, units), tier, limit, this.refused);
    return this.checkShared(key, limit, units, alsoRead).then((shared) =>
      shared
        ? withPolicy(shared, tier, limit, this.refused, shared.read)
        : withPolicy(this.memory.check(key, limit, RATE_PERIOD_MS, units), tier, limit, this.refused),
    );
  }

  private async checkShared(
    key: string,
    limit: number,
    cost: number,
    alsoRead: string | undefined,
  ): Promise<(RateDecision & { read?: string }) | undefined> {
    const reply = await this.redis.run((client) =>
      this.evalGcra(client, alsoRead === undefined ? [key] : [key, alsoRead], [limit, RATE_PERIOD_MS, cost]),
    );
    if (!reply) return undefined;
    const [allowed, remaining, retryAfterMs, resetMs] = reply.map(Number);
    const read = alsoRead === undefined ? undefined : String(reply[4] ?? '');
    return { allowed: allowed === 1, remaining, retryAfterMs, resetMs, read };
  }

  /** EVALSHA, loading the script on first use and again when Redis has lost it (restart, SCRIPT FLUSH). */
  private async evalGcra(client: RedisClient, keys: string[], args: number[]): Promise<unknown[]> {
    const options = { keys, arguments: args.map(String) };
    this.sha ??= await client.scriptLoad(GCRA_LUA);
    try {
      return (await client.evalSha(this.sha, options)) as unknown[];
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      this.sha = await client.scriptLoad(GCRA_LUA);
      return (await client.evalSha(this.sha, options)) as unknown[];
    }
  }
}

/** A literal rather than an object spread: on the hot path, the spread measured many times slower. */
function withPolicy(
  decision: RateDecision,
  tier: Tier,
  limit: number,
  refused: Record<Tier, number>,
  read?: string,
): RateCheck {
  const { allowed, remaining, retryAfterMs, resetMs } = decision;
  if (!allowed) refused[tier] += 1;
  return { allowed, remaining, retryAfterMs, resetMs, tier, limit, read };
}
