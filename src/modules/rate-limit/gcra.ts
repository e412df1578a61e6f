/** The outcome of one rate-limit check. Times in milliseconds. */
export interface RateDecision {
  allowed: boolean;
  /** Requests (cost units) the caller may still make right now. */
  remaining: number;
  /** When denied: how long until this request would be allowed. 0 when allowed. */
  retryAfterMs: number;
  /** How long until the full allowance is back. */
  resetMs: number;
}

/** Float slack: `limit` requests at the same instant must all pass, whatever the rounding of `period / limit`. */
const EPSILON = 1e-6;

/**
 * GCRA (the generic cell rate algorithm) — a leaky bucket kept as one number per key, the
 * theoretical arrival time `tat`: the moment the caller's allowance would be full again. Each
 * request of cost c moves it c × (period / limit) ahead; a request is refused when that would put
 * `tat` more than one period past now. So `limit` requests may come at once, then one per
 * period / limit, in O(1) state and time. It is not a sliding window: a caller who starts with a
 * full allowance may make up to 2 × limit − 1 requests within one period (the burst, then the
 * refill), and never more than limit + n in any span of n intervals; over longer spans it
 * averages `limit` per period. The guide says so.
 *
 * Why GCRA anyway: it spreads a client's requests instead of letting it spend a whole window in
 * its first second and wait out the rest, and it is one number per key; a sliding log is exact but
 * keeps every request of the window, and the two-window approximation is not exact either.
 *
 * `gcra.lua.ts` is the same arithmetic, run inside Redis; keep the two in step.
 */
export function gcra(
  storedTat: number | undefined,
  now: number,
  limit: number,
  periodMs: number,
  cost: number,
): { decision: RateDecision; tat: number } {
  const interval = periodMs / limit;
  const tat = Math.max(storedTat ?? now, now);
  const next = tat + interval * cost;
  const allowAt = next - periodMs;
  if (allowAt - now > EPSILON) {
    return {
      tat,
      decision: {
        allowed: false,
        remaining: Math.max(0, Math.floor((periodMs - (tat - now)) / interval + EPSILON)),
        retryAfterMs: Math.ceil(allowAt - now),
        resetMs: Math.ceil(tat - now),
      },
    };
  }
  return {
    tat: next,
    decision: {
      allowed: true,
      remaining: Math.max(0, Math.floor((periodMs - (next - now)) / interval + EPSILON)),
      retryAfterMs: 0,
      // At least 1 ms, like the Lua script (which needs it for SET PX).
      resetMs: Math.max(1, Math.ceil(next - now)),
    },
  };
}

/**
 * The per-instance fallback: GCRA over a Map, used while Redis is unset, down or slow. Entries
 * whose allowance is full again carry no information and are swept once a period.
 */
export class MemoryGcra {
  private readonly tats = new Map<string, number>();

  check(key: string, limit: number, periodMs: number, cost: number, now = Date.now()): RateDecision {
    const { decision, tat } = gcra(this.tats.get(key), now, limit, periodMs, cost);
    if (decision.allowed) this.tats.set(key, tat);
    return decision;
  }

  /** Drops the keys whose allowance is full again (their state equals no state). */
  sweep(now = Date.now()): void {
    for (const [key, tat] of this.tats) if (tat <= now) this.tats.delete(key);
  }

  get size(): number {
    return this.tats.size;
  }
}
