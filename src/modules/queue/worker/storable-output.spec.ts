import { describe, expect, it } from 'vitest';
import { serializeOutput } from './storable-output.js';

const nest = (depth: number): unknown => {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i += 1) value = [value];
  return value;
};

describe('serializeOutput', () => {
  it('serializes what PostgreSQL can store, once', () => {
    expect(serializeOutput({ a: [1, 'é', '😀'], b: null }, 32)).toEqual({ json: '{"a":[1,"é","😀"],"b":null}' });
    expect(serializeOutput(undefined, 32)).toEqual({ json: 'null' });
  });

  it('refuses NUL and lone surrogates, in values and keys, naming where', () => {
    expect(serializeOutput({ a: 'x\u0000y' }, 32)).toEqual({
      invalid: expect.stringMatching(/^The output cannot be stored: output\.a .*NUL/),
    });
    expect(serializeOutput({ a: ['\ud800'] }, 32)).toEqual({ invalid: expect.stringContaining('output.a[0]') });
    expect(serializeOutput({ ['\udc00']: 1 }, 32)).toHaveProperty('invalid');
    // The text of an escape is an ordinary string.
    expect(serializeOutput({ a: '\\u0000 \\ud800' }, 32)).toEqual({ json: '{"a":"\\\\u0000 \\\\ud800"}' });
  });

  it('refuses nesting deeper than the limit before serializing (which would overflow the stack)', () => {
    expect(serializeOutput(nest(32), 32)).toHaveProperty('json');
    expect(serializeOutput(nest(33), 32)).toHaveProperty('invalid');
    expect(serializeOutput(nest(200_000), 32)).toHaveProperty('invalid');
  });
});
