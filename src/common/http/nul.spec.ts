import { describe, expect, it } from 'vitest';
import { findNul } from './nul.js';

describe('findNul', () => {
  it('names the path of the first string (or key) holding NUL', () => {
    expect(findNul({ type: 'echo', input: { a: ['ok', 'x\0y'] } })).toBe('input.a[1]');
    expect(findNul({ ['k\0']: 1 })).toBe('k\0');
    expect(findNul('a\0')).toBe('body');
    expect(findNul({ type: 'echo', input: { text: '\\u0000 is fine as text' } })).toBeUndefined();
    expect(findNul(undefined)).toBeUndefined();
  });
});
