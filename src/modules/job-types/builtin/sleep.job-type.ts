import { type JobType } from '../job-type.js';

export const SLEEP_MAX_MS = 60_000;

/** Resolves after `ms`, or rejects with `signal.reason` as soon as the signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Waits `ms` milliseconds: a stand-in for slow work when testing timeouts, cancel and shutdown. */
export const sleepJobType: JobType = {
  name: 'sleep',
  description: `Waits \`ms\` milliseconds (0-${SLEEP_MAX_MS}) and returns \`{ms}\`. Stops at once when cancelled.`,
  inputSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['ms'],
    properties: { ms: { type: 'integer', minimum: 0, maximum: SLEEP_MAX_MS } },
  },
  outputSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['ms'],
    properties: { ms: { type: 'integer' } },
  },
  cost: 1,
  // Longer than the longest sleep, so a valid input never times out.
  timeoutMs: SLEEP_MAX_MS + 5_000,
  maxAttempts: 3,
  backoff: { baseMs: 1_000, maxMs: 60_000 },
  example: { ms: 1000 },
  async handle(input, { signal }) {
    // Output repeats the input so that sleep steps can be chained in a pipeline.
    const { ms } = input as { ms: number };
    await sleep(ms, signal);
    return { ms };
  },
};
