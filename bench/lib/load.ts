import autocannon from 'autocannon';
import { isSmoke } from './protocol.js';

export interface LoadFigures {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
}

/** Full runs are long enough for a stable mean; smoke runs only prove the benchmark still works. */
export function loadDurations(): { warmupSeconds: number; seconds: number } {
  return isSmoke() ? { warmupSeconds: 1, seconds: 2 } : { warmupSeconds: 2, seconds: 10 };
}

/**
 * Warms the server up, then measures it. The load runs in a worker thread so autocannon does not
 * share the event loop with a server living in this same process. Any error or non-2xx response
 * fails the measurement: a fast stream of 401s must never pass for throughput.
 */
export async function measure(
  url: string,
  options: { connections: number; headers?: Record<string, string> },
): Promise<LoadFigures> {
  const { warmupSeconds, seconds } = loadDurations();
  const base = { url, connections: options.connections, headers: options.headers, workers: 1 };
  await autocannon({ ...base, duration: warmupSeconds });
  const result = await autocannon({ ...base, duration: seconds });
  if (result.errors > 0 || result.non2xx > 0) {
    throw new Error(
      `${url}: ${result.non2xx} non-2xx responses and ${result.errors} errors (${result.timeouts} timeouts) ` +
        `in ${result.requests.total} requests`,
    );
  }
  return {
    requestsPerSecond: result.requests.mean,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
  };
}
