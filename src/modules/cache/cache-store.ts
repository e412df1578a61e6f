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
  /**
   * Read-your-writes on every instance (see CacheService): the version of `key`, moved by each
   * acknowledged write of its object; 0 when it never moved (or the move is older than
   * {@link VERSION_TTL_MS}).
   */
  version(key: string): Promise<number>;
  /** The value of `key` and its version, read together (atomically). */
  getVersioned(key: string): Promise<{ text: string | undefined; version: number }>;
  /** Stores the value only if the key's version is still `version`; false when it has moved. */
  setIfVersion(key: string, value: string, ttlMs: number, version: number): Promise<boolean>;
  /** An acknowledged write of the keys' objects: moves each key's version and deletes its value, atomically. */
  acknowledge(keys: string[]): Promise<void>;
}

/**
 * How long a key's version outlives its last move: longer than any copy it could make stale lives
 * (entries of changeable objects live 60 s at most, local copies 5 s), so a version that expired
 * back to 0 finds only copies made after it.
 */
export const VERSION_TTL_MS = 10 * 60_000;

/** Keys per MULTI of an acknowledge: about 1,000 commands, well under a millisecond of Redis's time. */
const ACKNOWLEDGE_SLICE = 500;

/** Redis keys of the versions: outside the cache's namespace, so `DELETE /cache?prefix=` never resets one. */
export const VERSION_NAMESPACE = 'conveyor:cache-version:';

/** SET the value (KEYS[1]) only while the version (KEYS[2]) is ARGV[3]; ARGV: value, ttl ms, version. */
const SET_IF_VERSION_LUA = `
if tonumber(redis.call('GET', KEYS[2]) or '0') ~= tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

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

  async version(key: string): Promise<number> {
    return Number((await this.run((c) => c.get(VERSION_NAMESPACE + key))) ?? 0);
  }

  async getVersioned(key: string): Promise<{ text: string | undefined; version: number }> {
    const [text, version] = await this.run((c) => c.mGet([REDIS_NAMESPACE + key, VERSION_NAMESPACE + key]));
    return { text: text ?? undefined, version: Number(version ?? 0) };
  }

  async setIfVersion(key: string, value: string, ttlMs: number, version: number): Promise<boolean> {
    const stored = await this.run((c) =>
      c.eval(SET_IF_VERSION_LUA, {
        keys: [REDIS_NAMESPACE + key, VERSION_NAMESPACE + key],
        arguments: [value, String(ttlMs), String(version)],
      }),
    );
    return stored === 1;
  }

  async acknowledge(keys: string[]): Promise<void> {
    // In slices, one after the other: a cancelled batch of 100,000 jobs names 200,000 keys, and one
    // MULTI of them would hold the connection (and every request's rate-limit check) far past the
    // command timeout. Each slice is atomic; together they are done before the client is answered.
    for (let start = 0; start < keys.length; start += ACKNOWLEDGE_SLICE) {
      const slice = keys.slice(start, start + ACKNOWLEDGE_SLICE);
      await this.run((c) => {
        const multi = c.multi();
        for (const key of slice) {
          multi.incr(VERSION_NAMESPACE + key);
          multi.pExpire(VERSION_NAMESPACE + key, VERSION_TTL_MS);
        }
        multi.del(slice.map((k) => REDIS_NAMESPACE + k));
        return multi.exec();
      });
    }
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

  // One process, one copy: nothing another instance could hold, so versions never move.
  async version(_key: string): Promise<number> {
    return 0;
  }

  async getVersioned(key: string): Promise<{ text: string | undefined; version: number }> {
    return { text: await this.get(key), version: 0 };
  }

  async setIfVersion(key: string, value: string, ttlMs: number, _version: number): Promise<boolean> {
    await this.set(key, value, ttlMs);
    return true;
  }

  async acknowledge(keys: string[]): Promise<void> {
    await this.del(keys);
  }
}
