import type { AttemptRecord, Outcome } from './dispatcher.repository.js';

/** `Retry-After` as milliseconds from now: delta-seconds or an HTTP date; undefined if absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export interface RetryPolicy {
  /** Waits after the 1st, 2nd, … failed attempt since the delivery was (re-)armed. */
  scheduleMs: readonly number[];
  /** The most a `Retry-After` may push the next attempt out. */
  retryAfterMaxMs: number;
}

/**
 * What happens after an attempt. Success → `succeeded`; 410 → `failed` at once (the endpoint is
 * disabled as well); any other failure waits the schedule's next step ±10 % jitter, or at least
 * what a 429/503 `Retry-After` asks for (capped by `retryAfterMaxMs`); past the end of the
 * schedule → `failed`.
 */
export function nextStep(
  policy: RetryPolicy,
  attempt: { number: number; retryBase: number; outcome: Outcome; statusCode: number | null; retryAfterMs?: number },
  random: () => number = Math.random,
): AttemptRecord['next'] {
  if (attempt.outcome === 'ok') return { status: 'succeeded' };
  if (attempt.outcome === 'gone') return { status: 'failed' };
  const step = attempt.number - attempt.retryBase; // 1 after the first failure since (re-)arming
  const wait = policy.scheduleMs[step - 1];
  if (wait === undefined) return { status: 'failed' };
  let inMs = Math.round(wait * (0.9 + 0.2 * random()));
  if ((attempt.statusCode === 429 || attempt.statusCode === 503) && attempt.retryAfterMs !== undefined) {
    inMs = Math.max(inMs, Math.min(attempt.retryAfterMs, policy.retryAfterMaxMs));
  }
  return { status: 'pending', inMs };
}
