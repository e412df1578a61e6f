interface Waiting<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Groups writes without adding latency: the first item is written at once; items that arrive
 * while a write is in flight wait for it and go together, up to `maxBatch`, in the next one. At
 * low load every item is its own write; under load one statement (one commit) carries many.
 * `write` returns one result per item, in order; if it throws, every item of that batch rejects.
 */
export class MicroBatcher<T, R> {
  private readonly waiting: Array<Waiting<T, R>> = [];
  private writing: Promise<void> | undefined;

  constructor(
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly maxBatch = 200,
  ) {}

  add(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.writing ??= this.drain().finally(() => (this.writing = undefined));
    });
  }

  private async drain(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.maxBatch);
      try {
        const results = await this.write(batch.map((w) => w.item));
        batch.forEach((w, i) => w.resolve(results[i]));
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
  }
}
