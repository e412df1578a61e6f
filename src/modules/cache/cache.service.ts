import { Inject, Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../../config/config.js';
import { CacheUnavailableError, type CacheStore } from './cache-store.js';

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
}

export type Lookup = { hit: true; value: unknown } | { hit: false };

/** Past this many remembered invalidations, the oldest are dropped and every older write-back is refused. */
const MAX_REMEMBERED_INVALIDATIONS = 10_000;
/** Past this many keys whose delete failed, the store is not trusted at all until the longest TTL has passed. */
const MAX_STALE_KEYS = 10_000;
/** Until an endpoint sets a longer TTL, the longest a stale entry could live. */
const DEFAULT_MAX_TTL_MS = 60_000;

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
  private readonly counts = { hits: 0, misses: 0, bypassed: 0, errors: 0, sets: 0, invalidations: 0 };
  private sequence = 0;
  /** key → the sequence number of its last invalidation. */
  private readonly invalidatedAt = new Map<string, number>();
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
  ) {}

  /** The largest value, as JSON, the cache stores. */
  get maxValueBytes(): number {
    return this.config.cache.maxValueBytes;
  }

  /** A token to pass to {@link put}: taken before the data to cache is read. */
  begin(): number {
    return this.sequence;
  }

  async lookup(key: string): Promise<Lookup> {
    if (this.suspended || !this.store.ready || this.pendingDeletes.has(key) || this.untrusted(key)) {
      this.counts.bypassed += 1;
      return { hit: false };
    }
    try {
      const text = await this.store.get(key);
      if (text === undefined) {
        this.counts.misses += 1;
        return { hit: false };
      }
      this.counts.hits += 1;
      return { hit: true, value: JSON.parse(text) };
    } catch (error) {
      this.failed(error, 'get');
      this.counts.bypassed += 1;
      return { hit: false };
    }
  }

  /**
   * Stores `value` unless the key was invalidated since `token` was taken, or the value is larger
   * than CACHE_MAX_VALUE_BYTES. Resolves when done; never rejects.
   */
  async put(key: string, value: unknown, ttlMs: number, token: number): Promise<void> {
    if (this.suspended || token < this.floor || (this.invalidatedAt.get(key) ?? -1) > token || !this.store.ready)
      return;
    const text = JSON.stringify(value);
    if (Buffer.byteLength(text) > this.maxValueBytes) return;
    this.maxTtlMs = Math.max(this.maxTtlMs, ttlMs);
    try {
      await this.store.set(key, text, ttlMs);
      this.counts.sets += 1;
      // Fresh (begun after the key's last invalidation), so it replaced any stale copy.
      this.staleUntil.delete(key);
    } catch (error) {
      this.failed(error, 'set');
    }
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
   * change is acknowledged to the client.
   */
  invalidate(keys: string[]): void {
    if (keys.length === 0) return;
    this.sequence += 1;
    if (this.invalidatedAt.size + keys.length > MAX_REMEMBERED_INVALIDATIONS) {
      this.invalidatedAt.clear();
      this.floor = this.sequence;
    }
    for (const key of keys) {
      this.invalidatedAt.set(key, this.sequence);
      this.pendingDeletes.set(key, (this.pendingDeletes.get(key) ?? 0) + 1);
    }
    this.counts.invalidations += keys.length;
    void this.store
      .del(keys)
      .catch((error: unknown) => {
        this.failed(error, 'del');
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

  /**
   * While the change feed is down (LISTEN connection lost), invalidations by other instances may be
   * missed: the cache is bypassed, as the auth cache is. When it is back, no write-back begun
   * before counts, and a memory store (which only this instance's feed keeps fresh) is emptied.
   */
  setSuspended(suspended: boolean): void {
    if (this.suspended && !suspended) {
      this.floor = ++this.sequence;
      this.invalidatedAt.clear();
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
    await this.store.set(key, JSON.stringify(value), ttlMs);
    this.counts.sets += 1;
  }

  async remove(key: string): Promise<boolean> {
    this.invalidatedAt.set(key, ++this.sequence);
    return (await this.store.del([key])) > 0;
  }

  async removePrefix(prefix: string): Promise<number> {
    // Refuse every write-back begun before: any of them may be under the prefix.
    this.floor = ++this.sequence;
    this.invalidatedAt.clear();
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
    const { hits, misses } = this.counts;
    return {
      since: this.started.toISOString(),
      store: this.store.kind,
      ...this.counts,
      hitRate: hits + misses === 0 ? 0 : Math.round((hits / (hits + misses)) * 10_000) / 10_000,
    };
  }

  private failed(error: unknown, op: string): void {
    this.counts.errors += 1;
    // RedisService logs each outage once; anything else is unexpected and worth a line.
    if (!(error instanceof CacheUnavailableError)) this.logger.warn({ err: error, op }, 'cache operation failed');
  }
}
