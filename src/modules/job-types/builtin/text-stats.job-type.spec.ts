import { describe, expect, it } from 'vitest';
import { textStats, textStatsJobType } from './text-stats.job-type.js';

describe('text.stats', () => {
  it('counts characters, words and lines, and ranks words by count then alphabetically', () => {
    const stats = textStats('The cat and the hat.\nA cat, a bat!\n', 10);
    expect(stats).toMatchObject({ characters: 35, words: 9, lines: 2 });
    expect(stats.topWords).toEqual([
      { word: 'a', count: 2 },
      { word: 'cat', count: 2 },
      { word: 'the', count: 2 },
      { word: 'and', count: 1 },
      { word: 'bat', count: 1 },
      { word: 'hat', count: 1 },
    ]);
  });

  it('keeps only the top n', () => {
    expect(textStats('b b a a c', 2).topWords).toEqual([
      { word: 'a', count: 2 },
      { word: 'b', count: 2 },
    ]);
  });

  it.each([
    ['', 0],
    ['one line', 1],
    ['one line\n', 1],
    ['\n', 1],
    ['a\n\nb', 3],
    ['a\r\nb\rc', 3],
  ])('counts lines of %j as %i', (text, lines) => {
    expect(textStats(text, 10).lines).toBe(lines);
  });

  it('treats Unicode letters and digits as words, case-insensitively and after NFC normalisation', () => {
    const decomposed = 'cafe\u0301';
    const stats = textStats(`Café ${decomposed} CAFÉ — Straße 42 東京 don't 😀`, 10);
    expect(stats.words).toBe(8); // café×3, straße, 42, 東京, don, t — no emoji, no dash
    expect(stats.topWords[0]).toEqual({ word: 'café', count: 3 });
    expect(stats.topWords.map((w) => w.word)).toEqual(expect.arrayContaining(['straße', '42', '東京', 'don', 't']));
    // Code points, not UTF-16 units: the emoji is one character.
    expect(textStats('😀a', 10).characters).toBe(2);
  });

  it('handles empty text', () => {
    expect(textStats('', 10)).toEqual({ characters: 0, words: 0, lines: 0, topWords: [] });
  });

  it('defaults top to 10 in the handler', async () => {
    const text = Array.from({ length: 15 }, (_, i) => `w${i}`).join(' ');
    const signal = new AbortController().signal;
    const out = (await textStatsJobType.handle({ text }, { jobId: 'j', userId: 'u', attempt: 1, signal })) as {
      topWords: unknown[];
    };
    expect(out.topWords).toHaveLength(10);
  });
});
