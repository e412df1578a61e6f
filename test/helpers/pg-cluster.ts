import { execFileSync, spawn } from 'node:child_process';
import { appendFile, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { runMigrations } from '../../src/database/migrator.js';
import type { TestDatabase } from './database.js';
import { freePort } from './ports.js';

/** One server of the cluster: its port, data directory and URL (database `postgres`). */
export interface PgServer {
  port: number;
  dataDir: string;
  url: string;
}

/**
 * A PostgreSQL primary and a streaming replica of it, built and owned by the test (the machine's
 * cluster has no replication entry in pg_hba.conf): `initdb`, then `pg_basebackup -R`, each on a
 * free port, in temporary directories removed by {@link PgCluster.destroy}. The machine's client
 * tools (`pg_config --bindir`) build it.
 */
export interface PgCluster {
  primary: PgServer;
  replica: PgServer;
  /** Stops the replica at once (`pg_ctl stop -m immediate`, as if its machine died). */
  stopReplica(): Promise<void>;
  startReplica(): Promise<void>;
  /** Replay stops (the replica falls behind) until {@link resumeReplay}. */
  pauseReplay(): Promise<void>;
  resumeReplay(): Promise<void>;
  /** Resolves once the replica has replayed everything the primary wrote so far. */
  caughtUp(): Promise<void>;
  destroy(): Promise<void>;
}

const BIN = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();

/** PostgreSQL refuses to run as root: then the servers run as the `postgres` system user. */
function ids(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  const id = (flag: string): number => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

function run(tool: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(BIN, tool), args, {
      ...ids(),
      env: { ...process.env, LC_ALL: 'C' },
      // pg_ctl start leaves the server running with our pipes: let it keep none.
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`${tool} exited ${code}: ${output}`)),
    );
  });
}

async function query<R extends pg.QueryResultRow>(url: string, text: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text)).rows;
  } finally {
    await client.end();
  }
}

/** A temporary directory, owned by the servers' user, for the data directories and sockets. */
async function serversRoot(prefix: string): Promise<string> {
  const owner = ids();
  const root = await mkdtemp(path.join(tmpdir(), prefix));
  if (owner) await chown(root, owner.uid, owner.gid);
  return root;
}

/** A server's place under `root`, on a free port (nothing created yet). */
async function serverIn(root: string, name: string): Promise<PgServer> {
  const port = await freePort();
  return { port, dataDir: path.join(root, name), url: `postgres://postgres@127.0.0.1:${port}/postgres` };
}

/** `initdb`, trust auth, no fsync (a test's data need not survive the machine), plus `conf`. */
async function initServer(s: PgServer, conf = ''): Promise<void> {
  await run('initdb', ['-D', s.dataDir, '-U', 'postgres', '--auth=trust', '--no-sync']);
  await appendFile(path.join(s.dataDir, 'postgresql.conf'), `\nfsync = off\nfull_page_writes = off\n${conf}`);
}

function startServer(s: PgServer, root: string): Promise<string> {
  return run('pg_ctl', [
    'start',
    '-w',
    '-D',
    s.dataDir,
    '-l',
    `${s.dataDir}.log`,
    '-o',
    `-p ${s.port} -k ${root} -c listen_addresses=127.0.0.1`,
  ]);
}

/** `pg_ctl stop`: `immediate` is a crash (no checkpoint, connections cut), `fast` a clean stop. */
function stopServer(s: PgServer, mode: 'fast' | 'immediate'): Promise<string> {
  return run('pg_ctl', ['stop', '-w', '-m', mode, '-D', s.dataDir]);
}

export async function startPgCluster(): Promise<PgCluster> {
  const root = await serversRoot('conveyor-pg-cluster-');
  const primary = await serverIn(root, 'primary');
  const replica = await serverIn(root, 'replica');

  await initServer(primary, 'wal_level = replica\nmax_wal_senders = 4\nsynchronous_commit = off\n');
  await appendFile(path.join(primary.dataDir, 'pg_hba.conf'), '\nhost replication all 127.0.0.1/32 trust\n');
  await startServer(primary, root);
  await run('pg_basebackup', [
    '-h',
    '127.0.0.1',
    '-p',
    String(primary.port),
    '-U',
    'postgres',
    '-D',
    replica.dataDir,
    '-R',
    '-X',
    'stream',
  ]);
  await startServer(replica, root);

  let replicaRunning = true;
  return {
    primary,
    replica,
    async stopReplica() {
      await stopServer(replica, 'immediate');
      replicaRunning = false;
    },
    async startReplica() {
      await startServer(replica, root);
      replicaRunning = true;
    },
    async pauseReplay() {
      await query(replica.url, 'SELECT pg_wal_replay_pause()');
    },
    async resumeReplay() {
      await query(replica.url, 'SELECT pg_wal_replay_resume()');
    },
    async caughtUp() {
      const [{ lsn }] = await query<{ lsn: string }>(primary.url, 'SELECT pg_current_wal_lsn()::text AS lsn');
      const deadline = Date.now() + 10_000;
      for (;;) {
        const [{ behind }] = await query<{ behind: boolean }>(
          replica.url,
          `SELECT pg_last_wal_replay_lsn() < '${lsn}'::pg_lsn AS behind`,
        );
        if (!behind) return;
        if (Date.now() > deadline) throw new Error(`the replica did not replay up to ${lsn} within 10 s`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async destroy() {
      if (replicaRunning) await stopServer(replica, 'immediate').catch(() => undefined);
      await stopServer(primary, 'immediate').catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** One PostgreSQL server built and owned by the test, that it can stop and start again for real. */
export interface PgStandalone {
  server: PgServer;
  /** `pg_ctl stop`: `immediate` is a crash (no checkpoint, connections cut), `fast` a clean stop. */
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/** A fresh server (`initdb`) on a free port, in a temporary directory removed by {@link PgStandalone.destroy}. */
export async function startPgServer(): Promise<PgStandalone> {
  const root = await serversRoot('conveyor-pg-server-');
  const server = await serverIn(root, 'data');
  await initServer(server);
  await startServer(server, root);
  let running = true;
  return {
    server,
    async stop(mode) {
      await stopServer(server, mode);
      running = false;
    },
    async start() {
      await startServer(server, root);
      running = true;
    },
    async destroy() {
      if (running) await stopServer(server, 'immediate').catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * The `postgres` database of a server the test owns, as a TestDatabase (for createUser and direct
 * rows): migrated, with a small pool that outlives the server's restarts (an idle client's error
 * is expected then), and, unless `seed: false`, one user, so no instance bootstraps an admin.
 */
export async function serverDatabase(url: string, { seed = true } = {}): Promise<TestDatabase> {
  await runMigrations(url);
  const pool = new pg.Pool({ connectionString: url, max: 3 });
  pool.on('error', () => undefined);
  if (seed) await pool.query(`INSERT INTO users (name, email, role) VALUES ('seed', 'seed@test.local', 'user')`);
  return { url, name: 'postgres', pool, drop: () => pool.end() };
}
