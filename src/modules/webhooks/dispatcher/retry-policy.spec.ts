import { describe, expect, it } from 'vitest';
import { nextStep, parseRetryAfter } from './retry-policy.js';

const policy = { scheduleMs: [1000, 2000, 5000], retryAfterMaxMs: 60_000 };
const attempt = (number: number, extra: Partial<Parameters<typeof nextStep>[1]> = {}) => ({
  number,
  retryBase: 0,
  outcome: 'failed' as const,
  statusCode: 500,
  ...extra,
});

describe('webhook retry policy', () => {
  it('walks the schedule with ±10 % jitter, then gives up', () => {
    expect(nextStep(policy, attempt(1), () => 0)).toEqual({ status: 'pending', inMs: 900 });
    expect(nextStep(policy, attempt(1), () => 1)).toEqual({ status: 'pending', inMs: 1100 });
    expect(nextStep(policy, attempt(3), () => 0.5)).toEqual({ status: 'pending', inMs: 5000 });
    expect(nextStep(policy, attempt(4))).toEqual({ status: 'failed' });
  });

  it('restarts the schedule from the re-arm point (retry, replay, recover)', () => {
    expect(nextStep(policy, attempt(5, { retryBase: 4 }), () => 0.5)).toEqual({ status: 'pending', inMs: 1000 });
    expect(nextStep(policy, attempt(8, { retryBase: 4 }))).toEqual({ status: 'failed' });
  });

  it('succeeds on ok; fails at once on 410', () => {
    expect(nextStep(policy, attempt(1, { outcome: 'ok', statusCode: 200 }))).toEqual({ status: 'succeeded' });
    expect(nextStep(policy, attempt(1, { outcome: 'gone', statusCode: 410 }))).toEqual({ status: 'failed' });
  });

  it('waits at least what Retry-After asks on 429/503, capped; ignores it on other statuses', () => {
    const half = () => 0.5;
    expect(nextStep(policy, attempt(1, { statusCode: 429, retryAfterMs: 30_000 }), half)).toEqual({
      status: 'pending',
      inMs: 30_000,
    });
    expect(nextStep(policy, attempt(1, { statusCode: 503, retryAfterMs: 3_600_000 }), half)).toEqual({
      status: 'pending',
      inMs: 60_000,
    });
    // Never sooner than the schedule says.
    expect(nextStep(policy, attempt(3, { statusCode: 429, retryAfterMs: 10 }), half)).toEqual({
      status: 'pending',
      inMs: 5000,
    });
    expect(nextStep(policy, attempt(1, { statusCode: 500, retryAfterMs: 30_000 }), half)).toEqual({
      status: 'pending',
      inMs: 1000,
    });
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-11-28T12:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Sat, 28 Nov 2026 12:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Sat, 28 Nov 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
