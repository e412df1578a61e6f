import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashJobType } from './hash.job-type.js';

const run = (text: string, algorithm: string): Promise<unknown> =>
  hashJobType.handle(
    { text, algorithm },
    { jobId: 'j', userId: 'u', attempt: 1, signal: new AbortController().signal },
  );

describe('hash job type', () => {
  // Published test vectors (RFC 1321, FIPS 180-2 "abc").
  it.each([
    ['md5', '', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['md5', 'abc', '900150983cd24fb0d6963f7d28e17f72'],
    ['md5', 'The quick brown fox jumps over the lazy dog', '9e107d9d372bb6826bd81d3542a419d6'],
    ['sha1', 'abc', 'a9993e364706816aba3e25717850c26c9cd0d89d'],
    ['sha256', 'abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    [
      'sha512',
      'abc',
      'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
    ],
  ])('%s(%j)', async (algorithm, text, hex) => {
    await expect(run(text, algorithm)).resolves.toEqual({ algorithm, hex });
  });

  it('hashes the UTF-8 bytes of the text', async () => {
    const euro = createHash('sha256')
      .update(Buffer.from([0xe2, 0x82, 0xac]))
      .digest('hex');
    await expect(run('€', 'sha256')).resolves.toEqual({ algorithm: 'sha256', hex: euro });
  });
});
