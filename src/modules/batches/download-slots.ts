import { DomainError } from '../../common/errors/domain-error.js';

/**
 * How many result downloads each user has open on this instance. A download holds a stream-pool
 * connection for as long as its client reads, so one user opening many could take them all;
 * beyond the cap a new one is 429 with Retry-After. Per instance: the shared, Redis-backed
 * limits of the rate-limit module are the cluster-wide bound.
 */
export class DownloadSlots {
  private readonly open = new Map<string, number>();

  constructor(private readonly maxPerUser: number) {}

  /** Takes a slot for `userId` or throws RATE_LIMITED; returns the function that gives it back (once). */
  acquire(userId: string): () => void {
    const held = this.open.get(userId) ?? 0;
    if (held >= this.maxPerUser) {
      throw new DomainError(
        'RATE_LIMITED',
        `At most ${this.maxPerUser} result downloads may be open at once; finish one first`,
        { headers: { 'Retry-After': '5' } },
      );
    }
    this.open.set(userId, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(userId) ?? 1) - 1;
      if (left > 0) this.open.set(userId, left);
      else this.open.delete(userId);
    };
  }
}
