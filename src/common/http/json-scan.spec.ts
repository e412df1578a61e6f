import { describe, expect, it } from 'vitest';
import { jsonBytes, jsonProblemError, metadataTooLarge, scanJson } from './json-scan.js';

const scan = (value: unknown, maxDepth = 32) => scanJson(value, { maxDepth });

/** `levels` arrays, one inside the other, around `inner`. */
function nested(levels: number, inner: unknown = 1): unknown {
  let value = inner;
  for (let i = 0; i < levels; i += 1) value = [value];
  return value;
}

describe('scanJson', () => {
  it('names the path of a string (or key) holding NUL', () => {
    expect(scan({ type: 'echo', input: { a: ['ok', 'x\0y'] } })).toEqual({ kind: 'nul', field: 'input.a[1]' });
    expect(scan({ ['k\0']: 1 })).toEqual({ kind: 'nul', field: 'k\0' });
    expect(scan('a\0')).toEqual({ kind: 'nul', field: 'body' });
    expect(scan({ type: 'echo', input: { text: '\\u0000 is fine as text' } })).toBeUndefined();
    expect(scan(undefined)).toBeUndefined();
  });

  it('finds lone UTF-16 surrogates in values and keys, and accepts pairs', () => {
    expect(scan({ input: { text: 'a\ud800' } })).toEqual({ kind: 'surrogate', field: 'input.text' });
    expect(scan({ input: { text: '\udc00b' } })).toEqual({ kind: 'surrogate', field: 'input.text' });
    expect(scan({ metadata: { ['\ud83d']: 1 } })).toEqual({ kind: 'surrogate', field: 'metadata.\ud83d' });
    expect(scan({ input: { text: 'emoji \ud83d\ude00 is a pair' } })).toBeUndefined();
    // As JSON.parse reads the escapes a client sends.
    expect(scan(JSON.parse('{"items":[{"input":{"t":"\\ud800"}}]}'))).toEqual({
      kind: 'surrogate',
      field: 'items[0].input.t',
    });
  });

  it('refuses nesting past maxDepth at the level where it is passed, without recursion', () => {
    expect(scan({ input: nested(30) })).toBeUndefined(); // body 1 + 30 arrays = 31 levels
    expect(scan({ input: nested(31) })).toBeUndefined(); // 32 levels
    expect(scan({ input: nested(32) })).toEqual({ kind: 'depth', field: `input${'[0]'.repeat(31)}` });
    // Far deeper than any recursive walk could go: the scan itself must not overflow.
    const deep = JSON.parse(`{"input":${'['.repeat(200_000)}${']'.repeat(200_000)}}`);
    expect(scan(deep)?.kind).toBe('depth');
    expect(scanJson(nested(3), { maxDepth: 2, topLevel: 0 })).toBeUndefined();
    expect(scanJson([], { maxDepth: 0 })).toEqual({ kind: 'depth', field: 'body' });
  });

  it('prefixes paths, walks null-prototype objects (the query) and skips non-plain objects', () => {
    const query = Object.create(null) as Record<string, unknown>;
    query.type = 'x\0';
    expect(scanJson(query, { maxDepth: 4, prefix: 'query' })).toEqual({ kind: 'nul', field: 'query.type' });
    expect(scan({ at: new Date(), buffer: Buffer.from([0]) })).toBeUndefined();
  });

  it('maps a problem to 400 (unstorable text) or 422 (too deep), naming the field', () => {
    const nul = jsonProblemError({ kind: 'nul', field: 'name' }, 32);
    expect(nul.code).toBe('BAD_REQUEST');
    expect(nul.errors).toEqual([{ field: 'name', message: 'must not contain the NUL character' }]);
    expect(jsonProblemError({ kind: 'surrogate', field: 'email' }, 32).code).toBe('BAD_REQUEST');
    const deep = jsonProblemError({ kind: 'depth', field: 'input[0]' }, 32);
    expect(deep.code).toBe('VALIDATION_FAILED');
    expect(deep.errors?.[0].message).toContain('32 levels');
  });
});

describe('jsonBytes and metadataTooLarge', () => {
  it('measures compact JSON in UTF-8 bytes', () => {
    expect(jsonBytes({ a: 'é' })).toBe(10);
    expect(jsonBytes(undefined)).toBe(0);
    expect(metadataTooLarge({ a: 'x'.repeat(10) }, 100)).toBeUndefined();
    expect(metadataTooLarge(undefined, 1)).toBeUndefined();
    expect(metadataTooLarge({ a: 'x'.repeat(100) }, 100, 'line[2].metadata')).toEqual({
      field: 'line[2].metadata',
      message: expect.stringContaining('at most 100 bytes'),
    });
  });
});
