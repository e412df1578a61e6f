import { describe, expect, it } from 'vitest';
import { Waker } from './waker.js';

describe('Waker', () => {
  it('a wake-up ends the sleep at once', async () => {
    const waker = new Waker();
    waker.startRound();
    const slept = waker.sleep(60_000);
    waker.wake();
    await expect(slept).resolves.toBeUndefined();
  });

  it('a wake-up during the round skips the next sleep; the round after sleeps again', async () => {
    const waker = new Waker();
    waker.startRound();
    waker.wake(); // e.g. a NOTIFY while the claim query was running
    await waker.sleep(60_000); // returns at once
    waker.startRound();
    let done = false;
    const slept = waker.sleep(20).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(done).toBe(false);
    await slept;
    expect(done).toBe(true);
  });
});
