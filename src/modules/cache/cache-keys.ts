/**
 * Every key the cache writes for an object starts with its kind and its owner, so a lookup can
 * only ever find the caller's own copy, and the change feed knows which keys a change touches.
 */
export const cacheKeys = {
  job: (userId: string, jobId: string) => `job:${userId}:${jobId}`,
  jobResult: (userId: string, jobId: string) => `job-result:${userId}:${jobId}`,
  batch: (userId: string, batchId: string) => `batch:${userId}:${batchId}`,
  run: (userId: string, runId: string) => `run:${userId}:${runId}`,
};

/** What the admin API accepts as a key or a prefix: plain characters, no glob, at most 100 (Fastify’s path parameter limit). */
export const CACHE_KEY_PATTERN = /^[A-Za-z0-9:._-]{1,100}$/;
