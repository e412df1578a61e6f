import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { DomainError } from '../../common/errors/domain-error.js';
import { loadConfig } from '../../config/config.js';
import { JobTypeRegistry } from '../job-types/job-type.registry.js';
import { BatchItemsValidator, readNdjson } from './batch-items.js';

const config = loadConfig({ BODY_LIMIT_BYTES: '1024', METADATA_LIMIT_BYTES: '64', JSON_MAX_DEPTH: '4' });
const types = new JobTypeRegistry(config);
const validator = (): BatchItemsValidator => new BatchItemsValidator(types, 1000, 'pro', config);

/** Reads `chunks` as one NDJSON body; returns the validator's 422 (or the items). */
async function read(chunks: Array<string | Buffer>): Promise<{ items: number; errors?: DomainError['errors'] }> {
  const v = validator();
  await readNdjson(Readable.from(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c))), v);
  try {
    return { items: v.finish().length };
  } catch (error) {
    return { items: 0, errors: (error as DomainError).errors };
  }
}

const line = (text: string): string => JSON.stringify({ type: 'echo', input: { text } });

describe('readNdjson', () => {
  it('splits on LF, CRLF and CR wherever the chunks break, counting blank lines', async () => {
    const body = `${line('a')}\r\n\n${line('b')}\r${line('c')}\n${line('d')}`;
    for (let cut = 1; cut < body.length; cut += 7) {
      expect(await read([body.slice(0, cut), body.slice(cut)])).toEqual({ items: 4 });
    }
    // CR at the end of one chunk and LF at the start of the next are one line break.
    const split = await read([`${line('a')}\r`, `\nnot json\n`]);
    expect(split.errors).toEqual([{ field: 'line[2]', message: expect.stringContaining('not valid JSON') }]);
  });

  it('decodes UTF-8 split across chunks', async () => {
    const bytes = Buffer.from(`${line('é😀')}\n`);
    const at = bytes.indexOf(Buffer.from('😀')) + 2;
    expect(await read([bytes.subarray(0, at), bytes.subarray(at)])).toEqual({ items: 1 });
  });

  it('refuses a line over BODY_LIMIT_BYTES as an entry for that line and reads on', async () => {
    const long = line('x'.repeat(5000));
    const result = await read([
      `${line('a')}\n${long.slice(0, 700)}`,
      long.slice(700, 3000),
      `${long.slice(3000)}\nbad\n`,
    ]);
    expect(result.errors).toEqual([
      {
        field: 'line[2]',
        message: `is ${long.length} bytes; an item may be at most 1024 bytes (BODY_LIMIT_BYTES), like a POST /jobs body`,
      },
      { field: 'line[3]', message: expect.stringContaining('not valid JSON') },
    ]);
  });

  it('never holds more of an over-long line than the limit, however long it is', async () => {
    const CHUNK = 64 * 1024;
    const TOTAL = 256 * 1024 * 1024;
    let peak = 0;
    function* chunks(): Generator<Buffer> {
      yield Buffer.from('{"type":"echo","input":{"text":"');
      for (let sent = 0; sent < TOTAL; sent += CHUNK) {
        peak = Math.max(peak, process.memoryUsage().arrayBuffers);
        yield Buffer.alloc(CHUNK, 'x');
      }
      yield Buffer.from('"}}\n');
    }
    const base = process.memoryUsage().arrayBuffers;
    const v = validator();
    await readNdjson(Readable.from(chunks()), v);
    expect(() => v.finish()).toThrow();
    // Held chunks would add up to the 256 MiB sent; dropped ones are collected as they go (V8
    // collects external memory in steps of about 64 MiB, hence the margin).
    expect(peak - base).toBeLessThan(160 * 1024 * 1024);
  });

  it('scans each line for unstorable text and depth (JSON_MAX_DEPTH), and checks metadata size', async () => {
    const result = await read([
      `${JSON.stringify({ type: 'echo', input: { a: [[[1]]] } })}\n`,
      `${JSON.stringify({ type: 'echo', input: { a: 'x\ud800' } })}\n`,
      `${JSON.stringify({ type: 'echo', input: {}, metadata: { m: 'y'.repeat(100) } })}\n`,
      `${JSON.stringify({ type: 'echo', input: { a: [[1]] }, metadata: { m: 'ok' } })}\n`,
    ]);
    expect(result.errors).toEqual([
      { field: 'line[1]', message: 'input.a[0][0] nests arrays and objects deeper than 4 levels (JSON_MAX_DEPTH)' },
      { field: 'line[2]', message: expect.stringContaining('input.a must not contain a lone UTF-16 surrogate') },
      { field: 'line[3].metadata', message: expect.stringContaining('at most 64 bytes (METADATA_LIMIT_BYTES)') },
    ]);
  });
});
