import { type JobType } from '../job-type.js';
import { MAX_TEXT_LENGTH } from './hash.job-type.js';

export interface TextStats {
  characters: number;
  words: number;
  lines: number;
  topWords: Array<{ word: string; count: number }>;
}

// A word is a run of Unicode letters and digits (with combining marks, so "café" written with a
// combining accent stays one word). Apostrophes and hyphens split words: "don't" is "don" + "t".
const WORD = /[\p{L}\p{N}][\p{L}\p{M}\p{N}]*/gu;
const LINE_BREAK = /\r\n|\r|\n/g;

function count(iterable: Iterable<unknown>): number {
  let n = 0;
  for (const _ of iterable) n++;
  return n;
}

/**
 * Counts, as documented in the catalog: characters are Unicode code points; lines are the number
 * of line breaks plus one for a last line without a break (so "" has 0 lines, "a\n" has 1); words
 * are compared after NFC normalisation and lower-casing. Top words are ordered by count
 * descending, then by word in code-point order, so the same text always gives the same list.
 */
export function textStats(text: string, top: number): TextStats {
  const counts = new Map<string, number>();
  let words = 0;
  for (const [word] of text.normalize('NFC').toLowerCase().matchAll(WORD)) {
    words++;
    counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  const breaks = count(text.matchAll(LINE_BREAK));
  const lines = text === '' ? 0 : breaks + (/[\r\n]$/.test(text) ? 0 : 1);
  const topWords = [...counts]
    .map(([word, n]) => ({ word, count: n }))
    .sort((a, b) => b.count - a.count || (a.word < b.word ? -1 : a.word > b.word ? 1 : 0))
    .slice(0, top);
  return { characters: count(text), words, lines, topWords };
}

export const textStatsJobType: JobType = {
  name: 'text.stats',
  description:
    'Counts characters (code points), words (letters/digits, case-insensitive), lines, and the `top` most ' +
    'frequent words (default 10), ordered by count then alphabetically.',
  inputSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['text'],
    properties: {
      text: { type: 'string', maxLength: MAX_TEXT_LENGTH },
      top: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
    },
  },
  outputSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['characters', 'words', 'lines', 'topWords'],
    properties: {
      characters: { type: 'integer', minimum: 0 },
      words: { type: 'integer', minimum: 0 },
      lines: { type: 'integer', minimum: 0 },
      topWords: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['word', 'count'],
          properties: { word: { type: 'string' }, count: { type: 'integer', minimum: 1 } },
        },
      },
    },
  },
  cost: 2,
  timeoutMs: 10_000,
  maxAttempts: 3,
  backoff: { baseMs: 1_000, maxMs: 60_000 },
  example: { text: 'The quick brown fox jumps over the lazy dog.\nThe end.', top: 3 },
  handle(input) {
    const { text, top = 10 } = input as { text: string; top?: number };
    return Promise.resolve(textStats(text, top));
  },
};
