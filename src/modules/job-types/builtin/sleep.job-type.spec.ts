import { afterEach, describe, expect, it, vi } from 'vitest';
import { type JobContext } from '../job-type.js';
import { sleepJobType } from './sleep.job-type.js';

const context = (signal: AbortSignal): JobContext => ({ jobId: 'j', userId: 'u', attempt: 1, signal });

describe('sleep job type', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits the given time and returns it', async () => {
    vi.useFakeTimers();
    let done = false;
    const result = sleepJobType.handle({ ms: 5000 }, context(new AbortController().signal)).then((out) => {
      done = true;
      return out;
    });
    await vi.advanceTimersByTimeAsync(4999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(result).resolves.toEqual({ ms: 5000 });
  });

  it('rejects with the signal reason as soon as the signal aborts, leaving no timer behind', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const result = sleepJobType.handle({ ms: 60_000 }, context(controller.signal));
    const reason = new Error('cancelled');
    controller.abort(reason);
    // No time has passed: only the abort can have settled it.
    await expect(result).rejects.toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not start when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('shutdown'));
    await expect(sleepJobType.handle({ ms: 10 }, context(controller.signal))).rejects.toThrow('shutdown');
  });

  it('has a timeout longer than the longest allowed sleep', () => {
    expect(sleepJobType.timeoutMs).toBeGreaterThan(60_000);
  });
});
