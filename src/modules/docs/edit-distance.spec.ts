import { describe, expect, it } from 'vitest';
import { closest, editDistance } from './edit-distance.js';

describe('editDistance', () => {
  it('counts insertions, deletions and substitutions, ignoring case', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('getJob', 'GETJOB')).toBe(0);
  });
});

describe('closest', () => {
  it('returns the nearest candidates first, ties in their original order', () => {
    const names = ['listJobs', 'createJob', 'getJob', 'cancelJob', 'createBatch'];
    expect(closest('creatJob', names, 3)).toEqual(['createJob', 'getJob', 'listJobs']);
    expect(closest('x', ['ab', 'cd'], 3)).toEqual(['ab', 'cd']);
  });
});
