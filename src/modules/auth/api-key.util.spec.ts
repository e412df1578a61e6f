import { describe, expect, it } from 'vitest';
import { displayPrefix, generateApiKey, hashApiKey } from './api-key.util.js';

describe('api keys', () => {
  it('are 32 random bytes behind a prefix, and hash to SHA-256', () => {
    const a = generateApiKey();
    const b = generateApiKey();
    expect(a.key).toMatch(/^cvk_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a.key.slice(4), 'base64url')).toHaveLength(32);
    expect(a.key).not.toBe(b.key);
    expect(a.hash).toEqual(hashApiKey(a.key));
    expect(a.hash.toString('hex')).toHaveLength(64);
    expect(a.prefix).toBe(displayPrefix(a.key));
    expect(a.prefix).toHaveLength(10);
  });
});
