import { execFileSync, spawn } from 'node:child_process';
import { appendFile, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import pg from 'pg';
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

export async function startPgCluster(): Promise<PgCluster> {
  const owner = ids();
  const root = await mkdtemp(path.join(tmpdir(), 'conveyor-pg-cluster-'));
  if (owner) await chown(root, owner.uid, owner.gid);
  const server = async (name: string): Promise<PgServer> => {
    const port = await freePort();
    return { port, dataDir: path.join(root, name), url: `postgres://postgres@127.0.0.1:${port}/postgres` };
  };
  const primary = await server('primary');
  const replica = await server('replica');
  const start = (s: PgServer): Promise<string> =>
    run('pg_ctl', [
      'start',
      '-w',
      '-D',
      s.dataDir,
      '-l',
      `${s.dataDir}.log`,
      '-o',
      `-p ${s.port} -k ${root} -c listen_addresses=127.0.0.1`,
    ]);
  const stop = (s: PgServer, mode: 'fast' | 'immediate'): Promise<string> =>
    run('pg_ctl', ['stop', '-w', '-m', mode, '-D', s.dataDir]);

  await run('initdb', ['-D', primary.dataDir, '-U', 'postgres', '--auth=trust', '--no-sync']);
  await appendFile(
    path.join(primary.dataDir, 'postgresql.conf'),
    '\nwal_level = replica\nmax_wal_senders = 4\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n',
  );
  await appendFile(path.join(primary.dataDir, 'pg_hba.conf'), '\nhost replication all 127.0.0.1/32 trust\n');
  await start(primary);
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
  await start(replica);

  let replicaRunning = true;
  return {
    primary,
    replica,
    async stopReplica() {
      await stop(replica, 'immediate');
      replicaRunning = false;
    },
    async startReplica() {
      await start(replica);
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
      if (replicaRunning) await stop(replica, 'immediate').catch(() => undefined);
      await stop(primary, 'immediate').catch(() => undefined);
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
  const owner = ids();
  const root = await mkdtemp(path.join(tmpdir(), 'conveyor-pg-server-'));
  if (owner) await chown(root, owner.uid, owner.gid);
  const port = await freePort();
  const server: PgServer = {
    port,
    dataDir: path.join(root, 'data'),
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
  };
  await run('initdb', ['-D', server.dataDir, '-U', 'postgres', '--auth=trust', '--no-sync']);
  await appendFile(path.join(server.dataDir, 'postgresql.conf'), '\nfsync = off\nfull_page_writes = off\n');
  const start = async (): Promise<void> => {
    await run('pg_ctl', [
      'start',
      '-w',
      '-D',
      server.dataDir,
      '-l',
      `${server.dataDir}.log`,
      '-o',
      `-p ${port} -k ${root} -c listen_addresses=127.0.0.1`,
    ]);
  };
  let running = false;
  await start();
  running = true;
  return {
    server,
    async stop(mode) {
      await run('pg_ctl', ['stop', '-w', '-m', mode, '-D', server.dataDir]);
      running = false;
    },
    async start() {
      await start();
      running = true;
    },
    async destroy() {
      if (running) await run('pg_ctl', ['stop', '-w', '-m', 'immediate', '-D', server.dataDir]).catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    },
  };
}
