// Only the part of autocannon's programmatic API the benchmarks use; the package ships no types
// and @types/autocannon trails its major versions.
declare module 'autocannon' {
  namespace autocannon {
    interface Options {
      url: string;
      connections?: number;
      /** Seconds. */
      duration?: number;
      /** Worker threads generating the load; 0 runs it on the caller's event loop. */
      workers?: number;
      headers?: Record<string, string>;
    }

    interface Histogram {
      average: number;
      mean: number;
      stddev: number;
      min: number;
      max: number;
      total: number;
      p50: number;
      p90: number;
      p97_5: number;
      p99: number;
    }

    interface Result {
      url: string;
      connections: number;
      /** Seconds actually spent. */
      duration: number;
      errors: number;
      timeouts: number;
      non2xx: number;
      /** Completed requests per one-second sample. */
      requests: Histogram;
      /** Milliseconds. */
      latency: Histogram;
    }
  }

  function autocannon(options: autocannon.Options): PromiseLike<autocannon.Result>;
  export = autocannon;
}
