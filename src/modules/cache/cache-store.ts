import type { RedisClient, RedisService } from '../../redis/redis.service.js';

/**
 * Where cached values live: Redis when REDIS_URL is set (shared by every instance), else this
 * process's memory. Values are JSON text. A Redis store throws CacheUnavailableError when Redis
 * is down or slow; CacheService turns that into a miss.
 */
export interface CacheStore {
  readonly kind: 'redis' | 'memory';
  /** False while the store cannot be reached at all (Redis disconnected): calls are skipped. */
  readonly ready: boolean;
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Deletes the keys; resolves with how many existed. */
  del(keys: string[]): Promise<number>;
  /** Deletes every key starting with `prefix`; resolves with how many were deleted. */
  delPrefix(prefix: string): Promise<number>;
  /** Remaining time to live of a key in ms, or undefined when the key does not exist. */
  ttl(key: string): Promise<number | undefined>;
  /** A round trip: resolves when the store answered. */
  ping(): Promise<void>;
}

/** Redis keys of the cache carry this namespace, so DELETE /cache?prefix= can never touch other data (rate limits). */
export const REDIS_NAMESPACE = 'conveyor:cache:';

/** A prefix delete walks the keyspace with SCAN: an admin operation, allowed longer than a request's lookup. */
const PREFIX_DELETE_TIMEOUT_MS = 2000;

/** Redis did not answer in time, or is down: the caller goes on without the cache. */
export class CacheUnavailableError extends Error {
  constructor() {
    super('the cache store is unavailable');
    this.name = 'CacheUnavailableError';
  }
}

/**
 * Cache entries in Redis, through the shared connection: `RedisService.run` bounds each command
 * by REDIS_COMMAND_TIMEOUT_MS (100 ms) and skips Redis for a second after a timeout, so a
 * black-holed server costs one short wait, never a hung request.
 */
export class RedisCacheStore implements CacheStore {
  readonly kind = 'redis';

  constructor(private readonly redis: RedisService) {}

  get ready(): boolean {
    return this.redis.ready;
  }

  /** `run` answers undefined for "no answer": wrapped, so a missing key and a failure differ. */
  private async run<T>(command: (client: RedisClient) => Promise<T>, timeoutMs?: number): Promise<T> {
    const outcome = await this.redis.run(async (client) => ({ value: await command(client) }), timeoutMs);
    if (!outcome) throw new CacheUnavailableError();
    return outcome.value;
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.run((c) => c.get(REDIS_NAMESPACE + key))) ?? undefined;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.run((c) => c.pSetEx(REDIS_NAMESPACE + key, ttlMs, value));
  }

  async del(keys: string[]): Promise<number> {
    if (keys.length === 0) return 0;
    return this.run((c) => c.del(keys.map((k) => REDIS_NAMESPACE + k)));
  }

  async delPrefix(prefix: string): Promise<number> {
    const match = `${REDIS_NAMESPACE}${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    return this.run(async (c) => {
      let cursor = '0';
      let deleted = 0;
      do {
        const reply = await c.scan(cursor, { MATCH: match, COUNT: 1000 });
        cursor = String(reply.cursor);
        if (reply.keys.length > 0) deleted += await c.del(reply.keys);
      } while (cursor !== '0');
      return deleted;
    }, PREFIX_DELETE_TIMEOUT_MS);
  }

  async ttl(key: string): Promise<number | undefined> {
    const ms = await this.run((c) => c.pTTL(REDIS_NAMESPACE + key));
    return ms < 0 ? undefined : ms;
  }

  async ping(): Promise<void> {
    await this.run((c) => c.ping());
  }
}

/**
 * Cache entries in this process (REDIS_URL unset): a Map in insertion order, expired lazily, the
 * oldest entry evicted beyond `maxEntries`. Owns no timer, so it never keeps the process alive.
 */
export class MemoryCacheStore implements CacheStore {
  readonly kind = 'memory';
  readonly ready = true;
  private readonly entries = new Map<string, { value: string; expiresAt: number }>();

  constructor(private readonly maxEntries: number) {}

  private live(key: string): { value: string; expiresAt: number } | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  async get(key: string): Promise<string | undefined> {
    return this.live(key)?.value;
  }

  /** The entry's text at once (it is in this process). */
  peek(key: string): { text: string } | undefined {
    const entry = this.live(key);
    return entry && { text: entry.value };
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: Date.now() + ttlMs });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  async del(keys: string[]): Promise<number> {
    let deleted = 0;
    for (const key of keys) if (this.live(key) && this.entries.delete(key)) deleted += 1;
    return deleted;
  }

  async delPrefix(prefix: string): Promise<number> {
    let deleted = 0;
    for (const key of [...this.entries.keys()]) {
      if (key.startsWith(prefix) && this.live(key) && this.entries.delete(key)) deleted += 1;
    }
    return deleted;
  }

  async ttl(key: string): Promise<number | undefined> {
    const entry = this.live(key);
    return entry ? entry.expiresAt - Date.now() : undefined;
  }

  async ping(): Promise<void> {}
}
