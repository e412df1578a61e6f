import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

// `npm test` builds first, so this is the code under test, compiled as `npm start` runs it.
export const MAIN = path.resolve('dist/src/main.js');

/** The secrets key of every test instance (base64 of 32 bytes), so they can read each other's secrets. */
export const TEST_SECRETS_KEY = Buffer.alloc(32, 7).toString('base64');

export interface ServiceProcess {
  child: ChildProcessWithoutNullStreams;
  pid: number;
  output: () => string;
  exited: Promise<number | null>;
}

/** Every service process started by this test file and not yet known to have exited. */
const live = new Set<ServiceProcess>();

/** SIGKILLs whatever a test file left running (a failed test must not leave a worker behind). */
export async function killLeftoverServices(): Promise<void> {
  const left = [...live];
  for (const service of left) service.child.kill('SIGKILL');
  await Promise.all(left.map((service) => service.exited));
}

/** Runs the built service as a child process with only `env` (plus PATH) set. */
export function startService(env: Record<string, string>): ServiceProcess {
  const child = spawn(process.execPath, [MAIN], {
    // Limits no test reaches by accident, as in startTestApp; `env` may set others.
    env: {
      PATH: process.env.PATH ?? '',
      SECRETS_ENCRYPTION_KEY: TEST_SECRETS_KEY,
      RATE_LIMIT_PER_MINUTE_FREE: '100000000',
      RATE_LIMIT_PER_MINUTE_PRO: '100000000',
      RATE_LIMIT_PER_MINUTE_ENTERPRISE: '100000000',
      ...env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-200_000)));
  child.stderr.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-200_000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const service = { child, pid: child.pid!, output: () => output, exited };
  live.add(service);
  void exited.then(() => live.delete(service));
  return service;
}

/** Waits until GET /api/v1/health/ready answers 200; fails at once if the service exits. */
export async function waitForReady(port: number, service: ServiceProcess, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    `GET /api/v1/health/ready on port ${port} to answer 200`,
    async () => {
      if (service.child.exitCode !== null) throw new Error(`service exited early:\n${service.output()}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/health/ready`, { signal: AbortSignal.timeout(5000) });
        return res.status;
      } catch (error) {
        return `not answering yet (${(error as Error & { cause?: Error }).cause?.message ?? String(error)})`;
      }
    },
    (status) => status === 200,
    { timeout: timeoutMs, interval: 100, context: service.output },
  );
}

/**
 * A ready ROLE=worker process (job worker and webhook dispatcher) on `databaseUrl`, with short
 * poll, lease and sweep intervals and a receiver on 127.0.0.1 allowed; `env` overrides.
 */
export async function startWorkerProcess(
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<ServiceProcess> {
  const port = await freePort();
  const service = startService({
    DATABASE_URL: databaseUrl,
    ROLE: 'worker',
    PORT: String(port),
    HOST: '127.0.0.1',
    ADMIN_API_KEY: 'test-worker-admin-key-0123456789abcdefghijkl',
    WORKER_POLL_INTERVAL_MS: '100',
    WORKER_LEASE_MS: '2000',
    WORKER_SWEEP_INTERVAL_MS: '300',
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32',
    WEBHOOK_POLL_INTERVAL_MS: '100',
    LOG_LEVEL: 'warn',
    ...env,
  });
  await waitForReady(port, service);
  return service;
}
