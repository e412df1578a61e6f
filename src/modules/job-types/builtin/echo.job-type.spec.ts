import { describe, expect, it } from 'vitest';
import { echoJobType } from './echo.job-type.js';

describe('echo job type', () => {
  it('returns its input unchanged', async () => {
    const input = { a: 1, nested: { list: [1, 'two', null] } };
    const signal = new AbortController().signal;
    await expect(echoJobType.handle(input, { jobId: 'j', userId: 'u', attempt: 1, signal })).resolves.toEqual(input);
    expect(echoJobType.cost).toBe(1);
  });
});
