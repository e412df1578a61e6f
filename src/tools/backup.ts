import { execFile } from 'node:child_process';
import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** Backups this tool writes and prunes: `conveyor-<UTC timestamp>.dump`, nothing else in the directory. */
const BACKUP_FILE = /^conveyor-\d{8}T\d{6}Z\.dump$/;

export interface BackupOptions {
  databaseUrl: string;
  dir: string;
  retentionDays: number;
  /** Where pg_dump/pg_restore live; unset: PATH. */
  binDir?: string;
  now?: Date;
}

const tool = (name: string, binDir: string | undefined): string => (binDir ? path.join(binDir, name) : name);

/**
 * The URL for a client tool without its password, which goes in PGPASSWORD instead: a command
 * line is visible to every user of the machine (ps) and ends up in error messages.
 */
function connection(databaseUrl: string): { url: string; env: NodeJS.ProcessEnv } {
  const url = new URL(databaseUrl);
  const password = decodeURIComponent(url.password);
  url.password = '';
  // The child inherits this process's environment (PATH, PG* settings), plus the password.
  return { url: url.toString(), env: password ? { ...process.env, PGPASSWORD: password } : process.env };
}

/** The major version of a PostgreSQL client tool, e.g. 15 for "pg_dump (PostgreSQL) 15.14". */
async function toolMajor(name: string, binDir: string | undefined): Promise<number> {
  let stdout: string;
  try {
    ({ stdout } = await run(tool(name, binDir), ['--version']));
  } catch (error) {
    throw new Error(
      `${name} was not found${binDir ? ` in ${binDir}` : ' on PATH'}: install the PostgreSQL client tools ` +
        '(Debian: postgresql-client) of the same major version as the server, or set PG_BIN_DIR',
      { cause: error },
    );
  }
  const match = /(\d+)(?:\.\d+)?/.exec(stdout);
  if (!match) throw new Error(`cannot read the version of ${name}: ${stdout.trim()}`);
  return Number(match[1]);
}

async function serverMajor(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
    return Math.floor(Number(rows[0].v) / 10_000);
  } finally {
    await client.end();
  }
}

/**
 * pg_dump refuses a server newer than itself (the embedded default runs PostgreSQL 18; Debian 12's
 * client tools are 15): say so before it does, naming what to install.
 */
async function checkVersions(name: string, databaseUrl: string, binDir: string | undefined): Promise<void> {
  // One after the other: with Promise.all a missing tool rejected at once and left the server's
  // connection running in the background, past the caller's cleanup (an uncaught 57P01 in CI).
  const client = await toolMajor(name, binDir);
  const server = await serverMajor(databaseUrl);
  if (client < server) {
    throw new Error(
      `${name} ${client} cannot work with PostgreSQL ${server}: install the version ${server} client tools ` +
        `and point PG_BIN_DIR at them (the embedded default ships none; back it up with its own major's tools)`,
    );
  }
}

function stamp(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

/**
 * `pg_dump -Fc` of the database into `dir/conveyor-<timestamp>.dump`, then deletes this tool's
 * backups older than `retentionDays`. Returns the new file and the ones deleted.
 */
export async function backup(options: BackupOptions): Promise<{ file: string; bytes: number; deleted: string[] }> {
  await checkVersions('pg_dump', options.databaseUrl, options.binDir);
  await mkdir(options.dir, { recursive: true });
  const now = options.now ?? new Date();
  const file = path.join(options.dir, `conveyor-${stamp(now)}.dump`);
  const { url, env } = connection(options.databaseUrl);
  await run(tool('pg_dump', options.binDir), ['--format=custom', '--no-owner', '--file', file, '--dbname', url], {
    env,
    maxBuffer: 16 * 1024 * 1024,
  });
  const { size } = await stat(file);
  return { file, bytes: size, deleted: await prune(options.dir, options.retentionDays, now) };
}

async function prune(dir: string, retentionDays: number, now: Date): Promise<string[]> {
  const cutoff = now.getTime() - retentionDays * 86_400_000;
  const deleted: string[] = [];
  for (const name of await readdir(dir)) {
    if (!BACKUP_FILE.test(name)) continue;
    const file = path.join(dir, name);
    if ((await stat(file)).mtimeMs < cutoff) {
      await unlink(file);
      deleted.push(file);
    }
  }
  return deleted;
}

/**
 * Restores a backup into `targetUrl` with pg_restore, in one transaction (all or nothing), replacing
 * the objects the backup holds (`--clean --if-exists`).
 */
export async function restore(file: string, targetUrl: string, binDir?: string): Promise<void> {
  await checkVersions('pg_restore', targetUrl, binDir);
  const { url, env } = connection(targetUrl);
  await run(
    tool('pg_restore', binDir),
    ['--clean', '--if-exists', '--no-owner', '--single-transaction', '--exit-on-error', '--dbname', url, file],
    { env, maxBuffer: 16 * 1024 * 1024 },
  );
}
