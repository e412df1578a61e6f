import { describe, expect, it } from 'vitest';
import { MicroBatcher } from './micro-batcher.js';

describe('MicroBatcher', () => {
  it('writes the first item at once and those arriving meanwhile together, in order', async () => {
    const batches: number[][] = [];
    let release: () => void = () => undefined;
    const batcher = new MicroBatcher<number, string>(async (items) => {
      batches.push(items);
      if (batches.length === 1) await new Promise<void>((r) => (release = r));
      return items.map((n) => `done ${n}`);
    });
    const first = batcher.add(1);
    const rest = [2, 3, 4].map((n) => batcher.add(n));
    release();
    expect(await first).toBe('done 1');
    expect(await Promise.all(rest)).toEqual(['done 2', 'done 3', 'done 4']);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it('splits at maxBatch', async () => {
    const sizes: number[] = [];
    const batcher = new MicroBatcher<number, number>(async (items) => {
      sizes.push(items.length);
      await new Promise((r) => setTimeout(r, 5));
      return items;
    }, 2);
    await Promise.all([1, 2, 3, 4, 5, 6].map((n) => batcher.add(n)));
    expect(sizes).toEqual([1, 2, 2, 1]);
  });

  it('when a batch fails, each item is written alone: only the bad one fails', async () => {
    let release: () => void = () => undefined;
    let calls = 0;
    const batcher = new MicroBatcher<number, number>(async (items) => {
      calls += 1;
      if (calls === 1) await new Promise<void>((r) => (release = r));
      if (items.includes(3)) throw new Error('item 3 is refused');
      return items;
    });
    const first = batcher.add(1);
    const others = [2, 3, 4].map((n) => batcher.add(n).then(String, (e: Error) => e.message));
    release();
    await first;
    expect(await Promise.all(others)).toEqual(['2', 'item 3 is refused', '4']);
  });

  it('an item added right after a drain finished is written (no stranded item)', async () => {
    const batcher = new MicroBatcher<number, number>(async (items) => items);
    expect(await batcher.add(1)).toBe(1);
    expect(await batcher.add(2)).toBe(2); // added from the continuation of the first
  });

  it('a failed write rejects its item, and the next ones still go out', async () => {
    let calls = 0;
    const batcher = new MicroBatcher<number, boolean>(async (items) => {
      calls += 1;
      if (calls === 1) throw new Error('database down');
      return items.map(() => true);
    });
    await expect(batcher.add(1)).rejects.toThrow('database down');
    await expect(batcher.add(2)).resolves.toBe(true);
  });
});
