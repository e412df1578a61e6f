import { Inject, Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../../config/config.js';
import { CacheUnavailableError, MemoryCacheStore, VERSION_NAMESPACE, type CacheStore } from './cache-store.js';

/** Counters since this process started. */
export interface CacheStats {
  since: string;
  store: 'redis' | 'memory';
  hits: number;
  misses: number;
  /** hits / (hits + misses), 0 before the first lookup. */
  hitRate: number;
  /** Lookups answered without the store: Redis down or suspended, or a key whose invalidation is not confirmed yet. */
  bypassed: number;
  /** Store calls that failed or timed out. */
  errors: number;
  sets: number;
  invalidations: number;
  /** Per level: the in-process copy (only in front of Redis), then the store. */
  levels: { l1: { enabled: boolean; hits: number; entries: number }; store: { hits: number; misses: number } };
}

/**
 * A lookup's outcome. On a miss, `version` is the key's version read before the caller reads the
 * database (pass it to {@link CacheService.put}); undefined when it could not be read.
 */
export type Lookup = { hit: true; value: unknown } | { hit: false; version?: number };

/** The version of a local copy made while the key's version could not be read: it never matches one read later. */
const UNKNOWN_VERSION = -1;

/** Past this many remembered invalidations, the oldest are dropped and every older write-back is refused. */
const MAX_REMEMBERED_INVALIDATIONS = 10_000;
/** Past this many keys whose delete failed, the store is not trusted at all until the longest TTL has passed. */
const MAX_STALE_KEYS = 10_000;
/** Until an endpoint sets a longer TTL, the longest a stale entry could live. */
const DEFAULT_MAX_TTL_MS = 60_000;
/**
 * A copy read from Redis is not kept locally for this long after its key was invalidated: another
 * instance that read the database before the change may still write its old copy back to Redis
 * before its own notification arrives (and its DEL then clears Redis, but not our local copy).
 */
const LOCAL_REFILL_GUARD_MS = 1000;

/**
 * The in-process level in front of Redis: parsed values (frozen, shared by every response that
 * hits them), each for at most its entry's TTL and CACHE_L1_TTL_MS, the oldest dropped beyond
 * CACHE_L1_MAX_ENTRIES. It is kept exactly as fresh as Redis by the same invalidations: this
 * instance's changes synchronously after commit, every other instance's from the change feed
 * (NOTIFY), and while the feed is down the whole cache is bypassed and this level emptied.
 */
class LocalLevel {
  private readonly entries = new Map<string, LocalEntry>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  get enabled(): boolean {
    return this.ttlMs > 0 && this.maxEntries > 0;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): LocalEntry | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt > Date.now()) return entry;
    this.entries.delete(key);
    return undefined;
  }

  set(key: string, value: unknown, text: string, ttlMs: number, version: number): void {
    if (!this.enabled) return;
    this.entries.delete(key);
    this.entries.set(key, {
      value: deepFreeze(value),
      text,
      expiresAt: Date.now() + Math.min(ttlMs, this.ttlMs),
      version,
    });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  deletePrefix(prefix: string): void {
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.entries.delete(key);
  }
}

/** A value of the local level, parsed and as the JSON text it is sent as. */
export interface LocalEntry {
  value: unknown;
  text: string;
  expiresAt: number;
  /** The key's version when the copy was read (see CacheService): served only while it is still the key's. */
  version: number;
}

/** Values of the local level are shared by concurrent responses: nothing may change them. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

export const CACHE_STORE = Symbol('CACHE_STORE');

/**
 * The cache in front of the store. It never throws and never waits on a dead store: a failure is
 * a miss, a write that could not land is dropped. It also keeps the two promises the cache makes:
 *
 * - An invalidation is effective on this instance the moment it is made (synchronously, right
 *   after the commit that caused it): until the store confirms the delete, lookups of that key
 *   skip the store. If the delete fails (Redis down), the key is remembered as stale until the
 *   longest TTL has passed or a fresh copy was written, as the old copy may still be there when
 *   Redis is back.
 * - A response read from the database before an invalidation is never written back after it
 *   ({@link begin} / {@link put}): otherwise a slow read could put back the old object.
 */
@Injectable()
export class CacheService {
  private readonly logger = new Logger('Cache');
  private readonly started = new Date();
  private readonly counts = { hits: 0, misses: 0, bypassed: 0, errors: 0, sets: 0, invalidations: 0, l1Hits: 0 };
  private readonly l1: LocalLevel;
  private sequence = 0;
  /** key → the sequence number of its last invalidation. */
  private readonly invalidatedAt = new Map<string, number>();
  /** key → when it was last invalidated (Date.now()), pruned with invalidatedAt. */
  private readonly invalidatedTime = new Map<string, number>();
  /** Writes begun before this sequence number are refused (the map above was pruned). */
  private floor = 0;
  private readonly pendingDeletes = new Map<string, number>();
  /** key → until when the store may still hold a copy older than its invalidation (the delete failed). */
  private readonly staleUntil = new Map<string, number>();
  private distrustUntil = 0;
  private maxTtlMs = DEFAULT_MAX_TTL_MS;
  private suspended = false;

  constructor(
    @Inject(CACHE_STORE) private readonly store: CacheStore,
    private readonly config: AppConfig,
  ) {
    // A memory store is already in this process: a second copy would only cost memory.
    this.l1 = new LocalLevel(
      store.kind === 'redis' ? config.cache.l1TtlMs : 0,
      store.kind === 'redis' ? config.cache.l1MaxEntries : 0,
    );
  }

  /** Where entries live: Redis (shared by every instance) or this process's memory. */
  get storeKind(): 'redis' | 'memory' {
    return this.store.kind;
  }

  /** The largest value, as JSON, the cache stores. */
  get maxValueBytes(): number {
    return this.config.cache.maxValueBytes;
  }

  /** A token to pass to {@link put}: taken before the data to cache is read. */
  begin(): number {
    return this.sequence;
  }

  /**
   * This process's own copy of `key`, without waiting on anything: the local level in front of
   * Redis, or the memory store. Undefined when there is none (the caller goes the normal way), or
   * when `version` (the key's version, read by the caller) says the copy is older than an
   * acknowledged write. Counted as a hit when found.
   */
  peekLocal(
    key: string,
    { count = true, version }: { count?: boolean; version?: number } = {},
  ): { text: string } | undefined {
    if (this.suspended) return undefined;
    const local = this.l1.get(key) ?? (this.store instanceof MemoryCacheStore ? this.store.peek(key) : undefined);
    if (local && 'version' in local && version !== undefined && local.version !== version) {
      this.l1.delete(key);
      return undefined;
    }
    if (!local || !count) return local;
    this.counts.hits += 1;
    if (this.l1.enabled) this.counts.l1Hits += 1;
    return local;
  }

  async lookup(key: string): Promise<Lookup> {
    if (this.suspended) {
      this.counts.bypassed += 1;
      return { hit: false };
    }
    // Invalidations delete from this level synchronously, so what it holds is never older than one
    // this instance heard of; the version says whether an acknowledged write came since.
    const local = this.l1.get(key);
    if (local) {
      const version = await this.currentVersion(key);
      if (version === undefined || version === local.version) {
        this.counts.hits += 1;
        this.counts.l1Hits += 1;
        return { hit: true, value: local.value };
      }
      this.l1.delete(key);
    }
    if (!this.store.ready || this.pendingDeletes.has(key) || this.untrusted(key)) {
      this.counts.bypassed += 1;
      return { hit: false };
    }
    const token = this.sequence;
    try {
      const { text, version } = await this.store.getVersioned(key);
      if (text === undefined) {
        this.counts.misses += 1;
        return { hit: false, version };
      }
      this.counts.hits += 1;
      const value: unknown = JSON.parse(text);
      // Kept locally only if no invalidation of the key came while Redis answered, nor just before.
      if (this.writable(key, token) && !this.recentlyInvalidated(key)) {
        this.l1.set(key, JSON.parse(text), text, this.config.cache.l1TtlMs, version);
      }
      return { hit: true, value };
    } catch (error) {
      this.failed(error, 'get');
      this.counts.bypassed += 1;
      return { hit: false };
    }
  }

  /**
   * Stores `value` unless the key was invalidated since `token` was taken, or the value is larger
   * than CACHE_MAX_VALUE_BYTES. `version` is the key's version the lookup read before the value was
   * read from the database: the store keeps the value only if no acknowledged write moved it since
   * (an instance that read before a client's cancel cannot put its old copy back after it).
   * Resolves when done; never rejects.
   */
  async put(key: string, value: unknown, ttlMs: number, token: number, readAt?: number): Promise<void> {
    if (!this.writable(key, token)) return;
    // A memory store's versions never move (one process: nothing to keep other copies in step with).
    const version = readAt ?? (this.store.kind === 'memory' ? 0 : undefined);
    const text = JSON.stringify(value);
    if (Buffer.byteLength(text) > this.maxValueBytes) return;
    // The local copy at once, whatever Redis does: it is kept fresh by the change feed, not by
    // Redis, so it also serves through a Redis outage. A copy of its own (parsed back), frozen:
    // the handler's object may be shared with the application (a catalog entry).
    this.l1.set(key, JSON.parse(text), text, ttlMs, version ?? UNKNOWN_VERSION);
    if (!this.store.ready || version === undefined) return;
    this.maxTtlMs = Math.max(this.maxTtlMs, ttlMs);
    try {
      if (!(await this.store.setIfVersion(key, text, ttlMs, version))) return;
      this.counts.sets += 1;
      // Fresh (begun after the key's last invalidation), so it replaced any stale copy.
      this.staleUntil.delete(key);
    } catch (error) {
      this.failed(error, 'set');
    }
  }

  /**
   * The version of `key`: moved in Redis by every write a client made and was answered for
   * ({@link acknowledge}), so a copy made before it is never served to a read that began after
   * the answer, on any instance, even before that instance hears of the change. Undefined when it
   * cannot be read (Redis down: the cache then goes by the change feed alone, as documented).
   */
  async currentVersion(key: string): Promise<number | undefined> {
    if (this.store.kind === 'memory') return 0;
    if (this.suspended || !this.store.ready) return undefined;
    try {
      return await this.store.version(key);
    } catch (error) {
      this.failed(error, 'version');
      return undefined;
    }
  }

  /**
   * The Redis key of `key`'s version, for a caller that reads it in a round trip of its own (the
   * fast path, with the rate limiter's); undefined when versions do not apply (a memory store).
   */
  versionKey(key: string): string | undefined {
    return this.store.kind === 'redis' ? VERSION_NAMESPACE + key : undefined;
  }

  /**
   * A client's own change of these keys' objects, before it is answered: dropped here at once
   * (as {@link invalidate}), and in Redis their versions move and their values go, in one atomic
   * step this waits for (bounded). Never rejects; if Redis could not be told, the keys stay
   * marked stale here and other instances go by the change feed.
   */
  async acknowledge(keys: string[]): Promise<void> {
    await this.drop(keys, () => this.store.acknowledge(keys), 'acknowledge');
  }

  private recentlyInvalidated(key: string): boolean {
    const at = this.invalidatedTime.get(key);
    return at !== undefined && Date.now() - at < LOCAL_REFILL_GUARD_MS;
  }

  /** Not suspended, and no invalidation of `key` since `token` was taken. */
  private writable(key: string, token: number): boolean {
    return !this.suspended && token >= this.floor && (this.invalidatedAt.get(key) ?? -1) <= token;
  }

  private untrusted(key: string): boolean {
    const now = Date.now();
    if (now < this.distrustUntil) return true;
    const until = this.staleUntil.get(key);
    if (until === undefined) return false;
    if (until > now) return true;
    this.staleUntil.delete(key);
    return false;
  }

  /**
   * Drops the keys: effective for this instance's lookups at once, in the store when its delete
   * lands. Synchronous on purpose: called from the change feed right after a commit, before the
   * change is acknowledged to the client. Other instances' changes come here too (from NOTIFY),
   * and each instance deletes from Redis itself: its DEL goes ahead of its own next GET on the
   * same connection, so it cannot read (and keep locally) a copy the originating instance's DEL
   * has not reached yet.
   */
  invalidate(keys: string[]): void {
    void this.drop(keys, () => this.store.del(keys), 'del');
  }

  /** Forgets the keys here at once, then runs `remove` (the store's delete); never rejects. */
  private async drop(keys: string[], remove: () => Promise<unknown>, op: string): Promise<void> {
    if (keys.length === 0) return;
    this.forget(keys);
    for (const key of keys) this.pendingDeletes.set(key, (this.pendingDeletes.get(key) ?? 0) + 1);
    await remove()
      .catch((error: unknown) => {
        this.failed(error, op);
        const until = Date.now() + this.maxTtlMs;
        if (this.staleUntil.size + keys.length > MAX_STALE_KEYS) {
          this.staleUntil.clear();
          this.distrustUntil = until;
        } else for (const key of keys) this.staleUntil.set(key, until);
      })
      .finally(() => {
        for (const key of keys) {
          const left = (this.pendingDeletes.get(key) ?? 1) - 1;
          if (left > 0) this.pendingDeletes.set(key, left);
          else this.pendingDeletes.delete(key);
        }
      });
  }

  private forget(keys: string[]): void {
    this.sequence += 1;
    if (this.invalidatedAt.size + keys.length > MAX_REMEMBERED_INVALIDATIONS) {
      this.invalidatedAt.clear();
      this.invalidatedTime.clear();
      this.floor = this.sequence;
    }
    const now = Date.now();
    for (const key of keys) {
      this.invalidatedAt.set(key, this.sequence);
      this.invalidatedTime.set(key, now);
      this.l1.delete(key);
    }
    this.counts.invalidations += keys.length;
  }

  /**
   * While the change feed is down (LISTEN connection lost), invalidations by other instances may be
   * missed: the cache is bypassed, as the auth cache is. When it is back, no write-back begun
   * before counts, and a memory store (which only this instance's feed keeps fresh) is emptied.
   */
  setSuspended(suspended: boolean): void {
    if (this.suspended && !suspended) {
      this.floor = ++this.sequence;
      this.invalidatedAt.clear();
      this.l1.deletePrefix('');
      if (this.store.kind === 'memory')
        void this.store.delPrefix('').catch((error: unknown) => this.failed(error, 'clear'));
    }
    this.suspended = suspended;
  }

  // The admin API: these reach the store or fail with CacheUnavailableError (503), never pretend.

  async read(key: string): Promise<{ value: unknown; ttlMs: number | undefined } | undefined> {
    const text = await this.store.get(key);
    if (text === undefined) return undefined;
    return { value: JSON.parse(text), ttlMs: await this.store.ttl(key) };
  }

  async write(key: string, value: unknown, ttlMs: number): Promise<void> {
    this.forget([key]);
    await this.store.set(key, JSON.stringify(value), ttlMs);
    this.counts.sets += 1;
  }

  async remove(key: string): Promise<boolean> {
    this.forget([key]);
    return (await this.store.del([key])) > 0;
  }

  async removePrefix(prefix: string): Promise<number> {
    // Refuse every write-back begun before: any of them may be under the prefix.
    this.floor = ++this.sequence;
    this.invalidatedAt.clear();
    this.l1.deletePrefix(prefix);
    return this.store.delPrefix(prefix);
  }

  async health(): Promise<{ store: 'redis' | 'memory'; status: 'up' | 'down'; latencyMs: number | null }> {
    const started = performance.now();
    try {
      await this.store.ping();
      return { store: this.store.kind, status: 'up', latencyMs: Math.round((performance.now() - started) * 10) / 10 };
    } catch (error) {
      this.failed(error, 'ping');
      return { store: this.store.kind, status: 'down', latencyMs: null };
    }
  }

  stats(): CacheStats {
    const { hits, misses, bypassed, errors, sets, invalidations, l1Hits } = this.counts;
    return {
      since: this.started.toISOString(),
      store: this.store.kind,
      hits,
      misses,
      hitRate: hits + misses === 0 ? 0 : Math.round((hits / (hits + misses)) * 10_000) / 10_000,
      bypassed,
      errors,
      sets,
      invalidations,
      levels: {
        l1: { enabled: this.l1.enabled, hits: l1Hits, entries: this.l1.size },
        store: { hits: hits - l1Hits, misses },
      },
    };
  }

  private failed(error: unknown, op: string): void {
    this.counts.errors += 1;
    // RedisService logs each outage once; anything else is unexpected and worth a line.
    if (!(error instanceof CacheUnavailableError)) this.logger.warn({ err: error, op }, 'cache operation failed');
  }
}
