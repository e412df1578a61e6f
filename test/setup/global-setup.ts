import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/database/embedded-postgres.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A server URL whose user may CREATE DATABASE; each test file makes its own database there. */
    databaseServerUrl: string;
    redisUrl: string;
  }
}

/** Sends PING over a raw socket: enough to know a Redis answers, without a client library. */
function redisAnswers(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port || 6379) });
    socket.setTimeout(1000);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      resolve(data.toString().startsWith('+PONG'));
      socket.destroy();
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      resolve(false);
      socket.destroy();
    });
  });
}

/**
 * Real servers for the whole run: DATABASE_URL / REDIS_URL when set (CI points them at the
 * machine's PostgreSQL and Redis); otherwise an embedded PostgreSQL and a local redis-server.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cleanups: Array<() => Promise<void>> = [];

  let databaseServerUrl = process.env.DATABASE_URL;
  let embedded: EmbeddedPostgres | undefined;
  let pgDir: string | undefined;
  if (!databaseServerUrl) {
    pgDir = await mkdtemp(path.join(tmpdir(), 'conveyor-test-pg-'));
    embedded = await startEmbeddedPostgres({ dataDir: pgDir, port: await freePort(), database: 'postgres' });
    databaseServerUrl = embedded.url;
    cleanups.push(async () => {
      await embedded?.stop();
      await rm(pgDir!, { recursive: true, force: true });
    });
  }

  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    const port = await freePort();
    const redis: ChildProcess = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    const spawnFailed = new Promise<never>((_, reject) =>
      redis.once('error', (e) =>
        reject(new Error(`REDIS_URL is unset and redis-server could not start: ${e.message}`)),
      ),
    );
    const localUrl = `redis://127.0.0.1:${port}`;
    await waitFor(
      'the local redis-server to answer PING',
      () => Promise.race([redisAnswers(localUrl), spawnFailed]),
      Boolean,
      { timeout: 10_000, interval: 100 },
    );
    redisUrl = localUrl;
    cleanups.push(async () => {
      redis.kill('SIGTERM');
    });
  } else if (!(await redisAnswers(redisUrl))) {
    throw new Error(`REDIS_URL=${redisUrl} does not answer PING`);
  }

  project.provide('databaseServerUrl', databaseServerUrl);
  project.provide('redisUrl', redisUrl);
  return async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  };
}
