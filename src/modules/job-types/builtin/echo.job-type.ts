import { type JobType } from '../job-type.js';

/** Returns its input unchanged: the smallest end-to-end check of the pipeline and worker. */
export const echoJobType: JobType = {
  name: 'echo',
  description: 'Returns its input unchanged. Useful to test submissions, pipelines and webhooks.',
  // Any JSON object by design, so this is the one schema without `additionalProperties: false`.
  inputSchema: { type: 'object' },
  outputSchema: { type: 'object' },
  cost: 1,
  timeoutMs: 5_000,
  maxAttempts: 3,
  backoff: { baseMs: 1_000, maxMs: 60_000 },
  example: { message: 'hello' },
  handle: (input) => Promise.resolve(input),
};
