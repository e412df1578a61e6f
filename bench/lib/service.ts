import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built service, as `npm run start:prod` runs it: dist/bench/lib/ → dist/src/main.js. */
const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

/**
 * Benchmarks load one user far past any real tier's per-minute limit: these keep the limiter
 * running on every request (its cost is part of the figures) without refusing any.
 */
export const BENCH_RATE_LIMITS = {
  RATE_LIMIT_PER_MINUTE_FREE: '1000000000',
  RATE_LIMIT_PER_MINUTE_PRO: '1000000000',
  RATE_LIMIT_PER_MINUTE_ENTERPRISE: '1000000000',
};

export interface ServiceProcess {
  pid: number;
  /** The last 200 kB of its stdout and stderr, for error messages. */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Runs `node dist/src/main.js` with only `env` (plus PATH) and waits until its readiness probe
 * answers 200. The child is killed if this process exits or is signalled first (the runner's
 * timeout, Ctrl-C), so a failed or interrupted bench never leaves a worker behind.
 */
export async function startService(
  env: Record<string, string>,
  port: number,
  /** Node options before the script, e.g. GC_NODE_ARGS of rss.ts. */
  nodeArgs: string[] = [],
): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [...nodeArgs, MAIN], {
    env: { PATH: process.env.PATH ?? '', ...BENCH_RATE_LIMITS, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${MAIN}`);
  const pid = child.pid;
  let output = '';
  const keep = (d: Buffer): void => void (output = (output + d.toString()).slice(-200_000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;

  // Synchronous, so it also works from an 'exit' handler; runs before benchDatabase's own
  // signal handler (prepended), so the database is dropped after its last client is gone.
  const killNow = (): void => {
    if (alive()) process.kill(pid, 'SIGKILL');
  };
  process.on('exit', killNow);
  process.prependListener('SIGTERM', killNow);
  process.prependListener('SIGINT', killNow);
  const forget = (): void => {
    process.off('exit', killNow);
    process.off('SIGTERM', killNow);
    process.off('SIGINT', killNow);
  };

  let stopping: Promise<void> | undefined;
  const service: ServiceProcess = {
    pid,
    output: () => output,
    stop: (graceMs = 15_000) =>
      (stopping ??= (async () => {
        if (alive()) {
          process.kill(pid, 'SIGTERM');
          const timer = setTimeout(killNow, graceMs);
          await exited;
          clearTimeout(timer);
        }
        forget();
      })()),
  };

  try {
    await waitForReady(port, service, alive);
  } catch (error) {
    await service.stop(2000);
    throw error;
  }
  return service;
}

async function waitForReady(port: number, service: ServiceProcess, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`service exited during start-up:\n${service.output()}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/api/v1/health/ready`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`service not ready within 60 s:\n${service.output()}`);
}
