import { chmod, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, restore } from '../src/tools/backup.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';

/** Row count and an order-independent checksum of every row, per table of the public schema. */
async function fingerprint(db: TestDatabase): Promise<Record<string, { rows: number; md5: string }>> {
  const { rows: tables } = await db.pool.query<{ name: string }>(
    `SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`,
  );
  const out: Record<string, { rows: number; md5: string }> = {};
  for (const { name } of tables) {
    const { rows } = await db.pool.query<{ rows: number; md5: string }>(
      `SELECT count(*)::int AS rows, coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '') AS md5
         FROM "${name}" t`,
    );
    out[name] = rows[0];
  }
  return out;
}

describe('backups: npm run db:backup / db:restore', () => {
  let source: TestDatabase;
  let target: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    source = await createTestDatabase();
    target = await createTestDatabase({ migrate: false });
    dir = await mkdtemp(path.join(tmpdir(), 'conveyor-backups-'));
    const { rows } = await source.pool.query<{ id: string }>(
      `INSERT INTO users (name, email, tier) SELECT 'u' || g, 'u' || g || '@test.local', 'pro' FROM generate_series(1, 5) g RETURNING id`,
    );
    await source.pool.query(
      `INSERT INTO jobs (user_id, type, input, status, finished_at)
       SELECT ($1::uuid[])[1 + g % 5], 'echo', jsonb_build_object('g', g, 'text', repeat('x', g % 50)),
              CASE WHEN g % 3 = 0 THEN 'completed' ELSE 'queued' END, CASE WHEN g % 3 = 0 THEN now() END
         FROM generate_series(1, 5000) g`,
      [rows.map((r) => r.id)],
    );
    await source.pool.query(
      `INSERT INTO results (job_id, output) SELECT id, jsonb_build_object('ok', true) FROM jobs WHERE status = 'completed'`,
    );
  }, 60_000);

  afterAll(async () => {
    await source?.drop();
    await target?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('backs up a populated database and restores it into a new one: same rows, same checksums', async () => {
    const written = await backup({ databaseUrl: source.url, dir, retentionDays: 30 });
    expect(path.basename(written.file)).toMatch(/^conveyor-\d{8}T\d{6}Z\.dump$/);
    expect(written.bytes).toBeGreaterThan(10_000);
    await restore(written.file, target.url);
    const [before, after] = await Promise.all([fingerprint(source), fingerprint(target)]);
    expect(before.jobs.rows).toBe(5000);
    expect(after).toEqual(before);
    // The restored database is a working one: its migrations table says it is current.
    const { rows } = await target.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM migrations`);
    expect(rows[0].n).toBeGreaterThan(5);
  }, 60_000);

  it('keeps BACKUP_RETENTION_DAYS of backups and touches no other file', async () => {
    const old = path.join(dir, 'conveyor-20200101T000000Z.dump');
    const other = path.join(dir, 'notes.txt');
    await writeFile(old, 'old');
    await writeFile(other, 'mine');
    const fortyDaysAgo = new Date(Date.now() - 40 * 86_400_000);
    await utimes(old, fortyDaysAgo, fortyDaysAgo);
    await utimes(other, fortyDaysAgo, fortyDaysAgo);
    const written = await backup({ databaseUrl: source.url, dir, retentionDays: 30, now: new Date(Date.now() + 1000) });
    expect(written.deleted).toEqual([old]);
    const names = await readdir(dir);
    expect(names).toContain('notes.txt');
    expect(names).not.toContain('conveyor-20200101T000000Z.dump');
    expect(names.filter((n) => n.endsWith('.dump'))).toHaveLength(2);
  }, 60_000);

  it('refuses client tools older than the server before running them, naming what to install', async () => {
    // The embedded default's case: PostgreSQL 18 with Debian 12's version 15 tools. Here the server
    // is the machine's 15, so an older pg_dump stands in for the client: a script that answers
    // --version like pg_dump 14 and fails if it is ever run to dump.
    const bin = await mkdtemp(path.join(tmpdir(), 'conveyor-oldpg-'));
    try {
      for (const name of ['pg_dump', 'pg_restore']) {
        const script = path.join(bin, name);
        await writeFile(
          script,
          `#!/bin/sh\n[ "$1" = --version ] && { echo "${name} (PostgreSQL) 14.13"; exit 0; }\necho "must not run" >&2; exit 3\n`,
        );
        await chmod(script, 0o755);
      }
      const before = await readdir(dir);
      const server = Math.floor(
        Number((await source.pool.query(`SHOW server_version_num`)).rows[0].server_version_num) / 10_000,
      );
      await expect(backup({ databaseUrl: source.url, dir, retentionDays: 30, binDir: bin })).rejects.toThrow(
        `pg_dump 14 cannot work with PostgreSQL ${server}: install the version ${server} client tools and point PG_BIN_DIR at them`,
      );
      expect(await readdir(dir)).toEqual(before);
      await expect(restore(path.join(dir, before[0] ?? 'none.dump'), source.url, bin)).rejects.toThrow(
        `pg_restore 14 cannot work with PostgreSQL ${server}`,
      );
    } finally {
      await rm(bin, { recursive: true, force: true });
    }
  });

  it('names what to install when the client tools are missing', async () => {
    await expect(backup({ databaseUrl: source.url, dir, retentionDays: 30, binDir: '/nonexistent' })).rejects.toThrow(
      /pg_dump was not found in \/nonexistent: install the PostgreSQL client tools/,
    );
  });
});
