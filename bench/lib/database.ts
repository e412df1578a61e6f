import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/database/embedded-postgres.js';

export interface BenchDatabase {
  url: string;
  /** Where the database lives, for the report. */
  source: string;
  dispose(): Promise<void>;
}

/** A TCP port free on the loopback interface right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** A throw-away database on the server at DATABASE_URL, so a bench never touches real data. */
async function onServer(serverUrl: string): Promise<BenchDatabase> {
  const name = `conveyor_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    source: `PostgreSQL at ${url.host} (DATABASE_URL)`,
    async dispose() {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        // FORCE: a pool the app failed to close must not keep the database alive.
        await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

async function embedded(): Promise<BenchDatabase> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'conveyor-bench-pg-'));
  const server = await startEmbeddedPostgres({ dataDir, port: await freePort(), database: 'conveyor_bench' });
  return {
    url: server.url,
    source: 'embedded PostgreSQL (no DATABASE_URL)',
    async dispose() {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Disposers of the databases still alive, oldest first. */
const live = new Set<() => Promise<void>>();

/** A signal drops every live database, newest first (a sibling before its server), then exits. */
function onSignal(): void {
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  void (async () => {
    for (const dispose of [...live].reverse()) await dispose().catch(() => undefined);
  })().finally(() => process.exit(130));
}

function tracked(db: BenchDatabase): BenchDatabase {
  let disposing: Promise<void> | undefined;
  const dispose = (): Promise<void> => (disposing ??= db.dispose());
  if (live.size === 0) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  live.add(dispose);
  return {
    ...db,
    dispose: async () => {
      live.delete(dispose);
      if (live.size === 0) {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      await dispose();
    },
  };
}

/**
 * A fresh, empty database: on DATABASE_URL's server when set, else an embedded server. The
 * embedded server runs in its own process group and would outlive a killed bench, so a signal
 * (the runner's timeout, Ctrl-C) disposes of it before exiting.
 */
export async function benchDatabase(): Promise<BenchDatabase> {
  return tracked(process.env.DATABASE_URL ? await onServer(process.env.DATABASE_URL) : await embedded());
}

/**
 * Another fresh database on the same server as `db` (embedded or DATABASE_URL's), for a baseline
 * that must not share tables with the measured run. Dispose of it before `db`.
 */
export async function siblingDatabase(db: BenchDatabase): Promise<BenchDatabase> {
  return tracked({ ...(await onServer(db.url)), source: db.source });
}
