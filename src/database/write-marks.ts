import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/config.js';
import { RedisService } from '../redis/redis.service.js';
import { REPLICA_CHECK_INTERVAL_MS } from './replicas.js';

/** Redis keys of the marks: `conveyor:wrote:<user id>` = the time of the user's last write (ms since the epoch). */
const KEY = 'conveyor:wrote:';
/** How long a write's response may wait for its mark to reach Redis (a brownout: far longer than a read's 100 ms). */
const MARK_TIMEOUT_MS = 500;
/** Marks kept by this instance; beyond it the oldest goes (it is only a fallback for Redis). */
const LOCAL_MAX = 10_000;

/**
 * When each user last wrote, so that their reads can see it (read-your-writes with replicas).
 *
 * After a client's write succeeds, and before the response is sent, the time is recorded here and
 * in Redis, where every instance sees it. A read for that user then goes to a replica only if the
 * replica holds everything committed before that time (Db.reader); otherwise to the primary. A
 * mark lives as long as a replica may lag plus two checks: after that, any replica Db.reader would
 * use holds the write anyway.
 *
 * Without REDIS_URL the marks are this instance's only: read-your-writes then holds for requests
 * to the instance that took the write (say so in the docs: several API instances with replicas
 * need Redis). When Redis is configured but does not answer, a read cannot know the user's last
 * write and goes to the primary.
 */
@Injectable()
export class WriteMarks {
  private readonly local = new Map<string, number>();
  private readonly ttlMs: number;

  constructor(
    private readonly redis: RedisService,
    config: AppConfig,
  ) {
    this.ttlMs = config.database.replicas.maxLagMs + 2 * REPLICA_CHECK_INTERVAL_MS;
  }

  /** Records that `userId` has just written (its transaction committed). */
  async mark(userId: string): Promise<void> {
    const at = Date.now();
    this.local.delete(userId);
    this.local.set(userId, at);
    if (this.local.size > LOCAL_MAX) this.local.delete(this.local.keys().next().value!);
    // Other instances know of this write only through Redis: the mark is sent even while Redis is
    // skipped after a slow answer (a read's lookup then goes to the primary anyway), and may take
    // up to MARK_TIMEOUT_MS. A failure is the RedisService's to log; this instance still knows it.
    await this.redis.run((client) => client.pSetEx(KEY + userId, this.ttlMs, String(at)), MARK_TIMEOUT_MS, {
      evenIfSuspended: true,
    });
  }

  /**
   * The time (ms since the epoch) of the user's last write that is still recent enough to matter,
   * 0 when none, or Infinity when it cannot be known (Redis configured and not answering).
   */
  async lastWrite(userId: string): Promise<number> {
    const local = this.local.get(userId) ?? 0;
    if (!this.redis.client) return local;
    const outcome = await this.redis.run(async (client) => ({ value: await client.get(KEY + userId) }));
    if (!outcome) return Infinity;
    return Math.max(local, Number(outcome.value ?? 0));
  }
}
