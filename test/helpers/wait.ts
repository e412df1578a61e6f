import { inspect } from 'node:util';

export interface WaitOptions {
  /** Give up after this many milliseconds (default 10 s). */
  timeout?: number;
  /** Pause between two reads, in milliseconds (default 50). */
  interval?: number;
  /** More to show when it times out, e.g. a child process's output. */
  context?: () => string;
}

function show(value: unknown): string {
  const text = inspect(value, { depth: 5, breakLength: 120, maxArrayLength: 20, maxStringLength: 500 });
  return text.length > 2000 ? `${text.slice(0, 2000)}… (${text.length} characters)` : text;
}

/**
 * The one polling helper of the tests: reads `read()` every `interval` ms until `until(value)`
 * holds (by default: until it is truthy) and returns that value. After `timeout` ms it fails
 * naming `what` was awaited and the last value read. An error thrown by `read` or `until` fails
 * it at once: a condition that cannot be read is a failure, not "not yet". A read is never cut
 * short, so keep reads quick (one query, one request).
 */
export async function waitFor<T>(
  what: string,
  read: () => T | Promise<T>,
  until: (value: T) => boolean = Boolean,
  options: WaitOptions = {},
): Promise<T> {
  const { timeout = 10_000, interval = 50, context } = options;
  const started = Date.now();
  let reads = 0;
  for (;;) {
    const value = await read();
    reads += 1;
    if (until(value)) return value;
    if (Date.now() - started >= timeout) {
      const more = context ? `\n${context()}` : '';
      throw new Error(
        `Timed out after ${timeout} ms waiting for ${what}; last value (read ${reads} times): ${show(value)}${more}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
