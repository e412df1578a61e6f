import { describe, expect, it } from 'vitest';
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
    expect(await cache.lookup('job:u:1')).toEqual({ hit: false });

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
    expect(await cache.lookup('job:u:1')).toEqual({ hit: false });
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
    expect(await cache.lookup('job:u:1')).toEqual({ hit: false });
    release();
  });

  it('stores nothing larger than CACHE_MAX_VALUE_BYTES', async () => {
    const cache = new CacheService(new MemoryCacheStore(100), loadConfig({ CACHE_MAX_VALUE_BYTES: '1024' }));
    await cache.put('big', 'x'.repeat(2000), 10_000, cache.begin());
    expect(await cache.lookup('big')).toEqual({ hit: false });
    expect(cache.stats()).toMatchObject({ misses: 1, sets: 0 });
  });
});
