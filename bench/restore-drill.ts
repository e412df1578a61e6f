import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { runMigrations } from '../src/database/migrator.js';
import { backup, restore } from '../src/tools/backup.js';
import { benchDatabase } from './lib/database.js';

/**
 * `npm run db:drill [-- <jobs>]`: the restore drill of docs/DISASTER_RECOVERY_PLAN.md. Fills a
 * throw-away database with `jobs` jobs (default 1,000,000; a third completed with a result),
 * backs it up with `npm run db:backup`'s code, restores it into a second one, checks the row
 * counts, and prints how long each step took: the restore time is the RTO's main term.
 */
const JOBS = Number(process.argv[2] ?? 1_000_000);

async function main(): Promise<void> {
  const source = await benchDatabase();
  const target = await benchDatabase();
  const dir = await mkdtemp(path.join(tmpdir(), 'conveyor-drill-'));
  const client = new pg.Client({ connectionString: source.url });
  try {
    await runMigrations(source.url);
    await client.connect();
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO users (name, email, tier) SELECT 'u' || g, 'u' || g || '@drill.local', 'pro' FROM generate_series(1, 50) g RETURNING id`,
    );
    let t = Date.now();
    await client.query(
      `INSERT INTO jobs (user_id, type, input, status, finished_at)
       SELECT ($1::uuid[])[1 + g % 50], 'echo', jsonb_build_object('g', g, 'text', md5(g::text)),
              CASE WHEN g % 3 = 0 THEN 'completed' ELSE 'queued' END, CASE WHEN g % 3 = 0 THEN now() END
         FROM generate_series(1, $2) g`,
      [rows.map((r) => r.id), JOBS],
    );
    await client.query(
      `INSERT INTO results (job_id, output) SELECT id, '{"ok":true}' FROM jobs WHERE status = 'completed'`,
    );
    const { rows: size } = await client.query<{ bytes: string }>(
      `SELECT pg_database_size(current_database())::text AS bytes`,
    );
    const fill = Date.now() - t;
    t = Date.now();
    const written = await backup({ databaseUrl: source.url, dir, retentionDays: 30 });
    const dump = Date.now() - t;
    t = Date.now();
    await restore(written.file, target.url);
    const restoreMs = Date.now() - t;
    const check = new pg.Client({ connectionString: target.url });
    await check.connect();
    const { rows: counted } = await check.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs`);
    await check.end();
    if (counted[0].n !== JOBS) throw new Error(`restored ${counted[0].n} jobs, expected ${JOBS}`);
    process.stdout.write(
      `${JSON.stringify({
        jobs: JOBS,
        databaseMiB: Math.round(Number(size[0].bytes) / 1048576),
        dumpMiB: Math.round(written.bytes / 1048576),
        fillMs: fill,
        backupMs: dump,
        restoreMs,
      })}\n`,
    );
  } finally {
    await client.end().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    await source.dispose();
    await target.dispose();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
