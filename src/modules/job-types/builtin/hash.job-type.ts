import { createHash } from 'node:crypto';
import { type JobType } from '../job-type.js';

export const HASH_ALGORITHMS = ['md5', 'sha1', 'sha256', 'sha512'] as const;
export type HashAlgorithm = (typeof HASH_ALGORITHMS)[number];

/** 1 Mi characters: JSON Schema's maxLength counts code points, not bytes. */
export const MAX_TEXT_LENGTH = 1_048_576;

/** Hex digest of the UTF-8 bytes of `text`. */
export const hashJobType: JobType = {
  name: 'hash',
  description: 'Hashes the UTF-8 bytes of `text` with md5, sha1, sha256 or sha512; returns the hex digest.',
  inputSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['text', 'algorithm'],
    properties: {
      text: { type: 'string', maxLength: MAX_TEXT_LENGTH },
      algorithm: { type: 'string', enum: [...HASH_ALGORITHMS] },
    },
  },
  outputSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['algorithm', 'hex'],
    properties: {
      algorithm: { type: 'string', enum: [...HASH_ALGORITHMS] },
      hex: { type: 'string', pattern: '^[0-9a-f]+$' },
    },
  },
  cost: 1,
  timeoutMs: 10_000,
  maxAttempts: 3,
  backoff: { baseMs: 1_000, maxMs: 60_000 },
  example: { text: 'hello world', algorithm: 'sha256' },
  handle(input) {
    const { text, algorithm } = input as { text: string; algorithm: HashAlgorithm };
    return Promise.resolve({ algorithm, hex: createHash(algorithm).update(text, 'utf8').digest('hex') });
  },
};
