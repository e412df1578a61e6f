import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { loadConfig } from '../../config/config.js';
import { CacheUnavailableError, MemoryCacheStore, type CacheStore } from './cache-store.js';
import { CacheService } from './cache.service.js';

/** A store that keeps entries in memory but whose deletes can be made to fail, like Redis during an outage. */
class FlakyStore extends MemoryCacheStore {
  failDeletes = false;
  constructor() {
    super(100);
  }
  override async del(keys: string[]): Promise<number> {
    if (this.failDeletes) throw new CacheUnavailableError();
    return super.del(keys);
  }
}

function cacheOn(store: CacheStore): CacheService {
  return new CacheService(store, loadConfig({}));
}

describe('CacheService', () => {
  it('never writes back a response read before an invalidation of its key', async () => {
    const cache = cacheOn(new MemoryCacheStore(100));
    const token = cache.begin();
    cache.invalidate(['job:u:1']);
    await cache.put('job:u:1', { status: 'queued' }, 10_000, token);
    expect(await cache.lookup('job:u:1')).toMatchObject({ hit: false });

    await cache.put('job:u:1', { status: 'cancelled' }, 10_000, cache.begin());
    expect(await cache.lookup('job:u:1')).toEqual({ hit: true, value: { status: 'cancelled' } });
  });

  it('does not trust a key whose delete failed until a fresh copy replaced it', async () => {
    const store = new FlakyStore();
    const cache = cacheOn(store);
    await cache.put('job:u:1', { status: 'queued' }, 10_000, cache.begin());
    store.failDeletes = true;
    cache.invalidate(['job:u:1']);
    await new Promise((resolve) => setImmediate(resolve));
    // The old copy is still in the store, but is never served.
    expect(await store.get('job:u:1')).toBe('{"status":"queued"}');
    expect(await cache.lookup('job:u:1')).toMatchObject({ hit: false });
    // Other keys are unaffected.
    await cache.put('job:u:2', { status: 'running' }, 10_000, cache.begin());
    expect(await cache.lookup('job:u:2')).toEqual({ hit: true, value: { status: 'running' } });

    await cache.put('job:u:1', { status: 'cancelled' }, 10_000, cache.begin());
    expect(await cache.lookup('job:u:1')).toEqual({ hit: true, value: { status: 'cancelled' } });
  });

  it('skips the store for a key until its delete is confirmed', async () => {
    const store = new MemoryCacheStore(100);
    let release: () => void = () => undefined;
    const slowDelete = new Promise<void>((resolve) => (release = resolve));
    store.del = async (keys) => {
      await slowDelete;
      return MemoryCacheStore.prototype.del.call(store, keys);
    };
    const cache = cacheOn(store);
    await cache.put('job:u:1', { status: 'queued' }, 10_000, cache.begin());
    cache.invalidate(['job:u:1']);
    expect(await cache.lookup('job:u:1')).toMatchObject({ hit: false });
    release();
  });

  it('stores nothing larger than CACHE_MAX_VALUE_BYTES', async () => {
    const cache = new CacheService(new MemoryCacheStore(100), loadConfig({ CACHE_MAX_VALUE_BYTES: '1024' }));
    await cache.put('big', 'x'.repeat(2000), 10_000, cache.begin());
    expect(await cache.lookup('big')).toMatchObject({ hit: false });
    expect(cache.stats()).toMatchObject({ misses: 1, sets: 0 });
  });
});

/** Stands in for Redis (kind 'redis', so the local level is on) and counts the reads that reach it. */
class CountingStore extends MemoryCacheStore {
  override readonly kind = 'redis' as unknown as 'memory';
  gets = 0;
  /** Key versions, as Redis keeps them (moved by acknowledge). */
  readonly versions = new Map<string, number>();
  override async version(key: string): Promise<number> {
    return this.versions.get(key) ?? 0;
  }
  override async getVersioned(key: string): Promise<{ text: string | undefined; version: number }> {
    return { text: await this.get(key), version: await this.version(key) };
  }
  override async setIfVersion(key: string, value: string, ttlMs: number, version: number): Promise<boolean> {
    if ((await this.version(key)) !== version) return false;
    await this.set(key, value, ttlMs);
    return true;
  }
  override async acknowledge(keys: string[]): Promise<void> {
    for (const key of keys) this.versions.set(key, (this.versions.get(key) ?? 0) + 1);
    await this.del(keys);
  }
  /** When set, the next get waits for this before answering. */
  gate: Promise<void> | undefined;
  constructor() {
    super(100);
  }
  override async get(key: string): Promise<string | undefined> {
    this.gets += 1;
    const answer = await super.get(key);
    if (this.gate) await this.gate;
    return answer;
  }
}

describe('CacheService, the local level in front of Redis', () => {
  const withRedis = (env: Record<string, string> = {}) => {
    const store = new CountingStore();
    return { store, cache: new CacheService(store, loadConfig(env)) };
  };

  it('answers repeated lookups from this process, and forgets the key the moment it is invalidated', async () => {
    const { store, cache } = withRedis();
    await cache.put('job:u:1', { status: 'queued' }, 10_000, cache.begin(), 0);
    for (let i = 0; i < 3; i += 1) {
      expect(await cache.lookup('job:u:1')).toEqual({ hit: true, value: { status: 'queued' } });
    }
    expect(store.gets).toBe(0);
    cache.invalidate(['job:u:1']);
    expect(await cache.lookup('job:u:1')).toMatchObject({ hit: false });
    expect(cache.stats().levels).toEqual({
      l1: { enabled: true, hits: 3, entries: 0 },
      store: { hits: 0, misses: 0 },
    });
  });

  it('keeps a copy read from Redis, unless the key was invalidated while Redis answered', async () => {
    const { store, cache } = withRedis();
    await store.set('job:u:1', '{"status":"queued"}', 10_000);
    let open: () => void = () => undefined;
    store.gate = new Promise((resolve) => (open = resolve));
    const pending = cache.lookup('job:u:1');
    await new Promise((resolve) => setImmediate(resolve));
    cache.invalidate(['job:u:1']);
    open();
    store.gate = undefined;
    // The answer was read before the invalidation: served to that one request, not kept.
    expect(await pending).toEqual({ hit: true, value: { status: 'queued' } });
    await store.set('job:u:1', '{"status":"cancelled"}', 10_000);
    await new Promise((resolve) => setImmediate(resolve));
    // Past the second after the invalidation in which copies from Redis are not kept.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 1500 });
    try {
      expect(await cache.lookup('job:u:1')).toEqual({ hit: true, value: { status: 'cancelled' } });
    } finally {
      vi.useRealTimers();
    }
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 1600 });
    onTestFinished(() => void vi.useRealTimers());
    const before = store.gets;
    expect(await cache.lookup('job:u:1')).toEqual({ hit: true, value: { status: 'cancelled' } });
    expect(store.gets).toBe(before); // now from the local copy
  });

  it('does not keep locally a copy read from Redis just after its key was invalidated', async () => {
    // Another instance that read the database before the change may put its old copy back into
    // Redis before its own notification arrives; its DEL would then clear Redis, not our copy.
    const { store, cache } = withRedis();
    cache.invalidate(['job:u:1']);
    await new Promise((resolve) => setImmediate(resolve));
    await store.set('job:u:1', '{"status":"queued"}', 10_000); // the other instance's late write
    expect(await cache.lookup('job:u:1')).toEqual({ hit: true, value: { status: 'queued' } });
    await store.del(['job:u:1']); // its DEL
    expect(await cache.lookup('job:u:1')).toMatchObject({ hit: false });
  });

  it('keeps a local copy no longer than CACHE_L1_TTL_MS, and never lets a response change it', async () => {
    const { store, cache } = withRedis({ CACHE_L1_TTL_MS: '30' });
    await cache.put('job:u:1', { status: 'queued', tags: ['a'] }, 10_000, cache.begin(), 0);
    const first = await cache.lookup('job:u:1');
    expect(store.gets).toBe(0);
    expect(() => {
      if (first.hit) (first.value as { tags: string[] }).tags.push('b');
    }).toThrow(TypeError);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await cache.lookup('job:u:1')).toEqual({ hit: true, value: { status: 'queued', tags: ['a'] } });
    expect(store.gets).toBe(1);
  });

  it('serves a local copy only while its key’s version is the one it was read at', async () => {
    const { store, cache } = withRedis();
    await cache.put('job:u:1', { status: 'queued' }, 10_000, cache.begin(), 0);
    expect(cache.peekLocal('job:u:1', { version: 0 })).toBeDefined();
    // Another instance acknowledged a client's change: the version moved in Redis, and this copy
    // (read at 0) is not served, nor kept.
    await store.acknowledge(['job:u:1']);
    expect(cache.peekLocal('job:u:1', { version: 1 })).toBeUndefined();
    expect(cache.peekLocal('job:u:1')).toBeUndefined();
    const miss = await cache.lookup('job:u:1');
    expect(miss).toEqual({ hit: false, version: 1 });
    // A copy read before the change (at 0) is not put back into the store; one read at 1 is.
    await cache.put('job:u:1', { status: 'queued' }, 10_000, cache.begin(), 0);
    expect(await store.get('job:u:1')).toBeUndefined();
    await cache.put('job:u:1', { status: 'cancelled' }, 10_000, cache.begin(), 1);
    expect(await store.get('job:u:1')).toBe('{"status":"cancelled"}');
    expect(await cache.lookup('job:u:1')).toEqual({ hit: true, value: { status: 'cancelled' } });
  });

  it('has no local level with the memory store or CACHE_L1_TTL_MS=0', async () => {
    expect(cacheOn(new MemoryCacheStore(10)).stats().levels.l1.enabled).toBe(false);
    const { store, cache } = withRedis({ CACHE_L1_TTL_MS: '0' });
    await cache.put('k', { a: 1 }, 10_000, cache.begin(), 0);
    await cache.lookup('k');
    expect(store.gets).toBe(1);
  });
});
