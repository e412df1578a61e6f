interface Waiting<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Groups writes without adding latency: the first item is written at once; items that arrive
 * while a write is in flight wait for it and go together, up to `maxBatch`, in the next one. At
 * low load every item is its own write; under load one statement (one commit) carries many.
 * `write` returns one result per item, in order. When a batch of several fails, each item is
 * written again on its own, so one bad item (say, an output PostgreSQL refuses) fails alone
 * instead of taking its batch-mates down with it.
 */
export class MicroBatcher<T, R> {
  private readonly waiting: Array<Waiting<T, R>> = [];
  private draining = false;

  constructor(
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly maxBatch = 200,
  ) {}

  add(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (!this.draining) {
        this.draining = true;
        void this.drain();
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting.splice(0, this.maxBatch);
        try {
          const results = await this.write(batch.map((w) => w.item));
          batch.forEach((w, i) => w.resolve(results[i]));
        } catch (error) {
          if (batch.length === 1) batch[0].reject(error);
          else await Promise.all(batch.map((w) => this.writeAlone(w)));
        }
      }
    } finally {
      // Cleared in the same turn the loop sees the queue empty: an add() right after starts a new drain.
      this.draining = false;
    }
  }

  private async writeAlone(w: Waiting<T, R>): Promise<void> {
    try {
      const [result] = await this.write([w.item]);
      w.resolve(result);
    } catch (error) {
      w.reject(error);
    }
  }
}
