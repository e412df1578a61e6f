import { describe, expect, it } from 'vitest';
import { MemoryGcra, gcra } from './gcra.js';

const MINUTE = 60_000;

describe('gcra', () => {
  it('allows the whole allowance at once, then one per period / limit', () => {
    const limiter = new MemoryGcra();
    const now = 1_000_000;
    const remaining = Array.from({ length: 10 }, () => limiter.check('k', 10, MINUTE, 1, now).remaining);
    expect(remaining).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    const denied = limiter.check('k', 10, MINUTE, 1, now);
    expect(denied).toEqual({ allowed: false, remaining: 0, retryAfterMs: 6000, resetMs: MINUTE });
    expect(limiter.check('k', 10, MINUTE, 1, now + 5999).allowed).toBe(false);
    expect(limiter.check('k', 10, MINUTE, 1, now + 6000)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('reports the time until the allowance is full and refills it', () => {
    const first = gcra(undefined, 0, 600, MINUTE, 1);
    expect(first.decision).toEqual({ allowed: true, remaining: 599, retryAfterMs: 0, resetMs: 100 });
    const later = gcra(first.tat, 100, 600, MINUTE, 1);
    expect(later.decision.remaining).toBe(599);
  });

  it('counts a costly request as many', () => {
    const limiter = new MemoryGcra();
    expect(limiter.check('k', 20, MINUTE, 10, 0)).toMatchObject({ allowed: true, remaining: 10 });
    expect(limiter.check('k', 20, MINUTE, 10, 0)).toMatchObject({ allowed: true, remaining: 0 });
    expect(limiter.check('k', 20, MINUTE, 10, 0)).toMatchObject({ allowed: false, retryAfterMs: 30_000 });
  });

  it('lets exactly `limit` requests through when period / limit is not a whole number', () => {
    for (const limit of [7, 13, 600, 6000]) {
      const limiter = new MemoryGcra();
      let allowed = 0;
      for (let i = 0; i < limit + 5; i += 1) if (limiter.check('k', limit, MINUTE, 1, 42).allowed) allowed += 1;
      expect(allowed, `limit ${limit}`).toBe(limit);
    }
  });

  it('keeps keys apart and sweeps the ones whose allowance is full again', () => {
    const limiter = new MemoryGcra();
    limiter.check('a', 1, MINUTE, 1, 0);
    expect(limiter.check('b', 1, MINUTE, 1, 0).allowed).toBe(true);
    expect(limiter.check('a', 1, MINUTE, 1, 0).allowed).toBe(false);
    limiter.sweep(MINUTE - 1);
    expect(limiter.size).toBe(2);
    limiter.sweep(MINUTE);
    expect(limiter.size).toBe(0);
  });
});
