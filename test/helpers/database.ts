import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { runMigrations } from '../../src/database/migrator.js';

export interface TestDatabase {
  url: string;
  name: string;
  /** A small pool for asserting on rows directly. */
  pool: pg.Pool;
  drop(): Promise<void>;
}

function withDatabase(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * A fresh database of its own for one test file, migrated by the real migrations
 * (unless `migrate: false`), dropped at the end.
 */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const serverUrl = inject('databaseServerUrl');
  const name = `conveyor_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = withDatabase(serverUrl, name);
  if (options.migrate !== false) await runMigrations(url);
  const pool = new pg.Pool({ connectionString: url, max: 3 });
  let dropping = false;
  // An idle client's error is emitted on the pool; DROP ... WITH (FORCE) terminates clients that are
  // still closing, which is expected then and only then.
  pool.on('error', (error: Error & { code?: string }) => {
    if (!(dropping && error.code === '57P01')) throw error;
  });
  return {
    url,
    name,
    pool,
    async drop() {
      dropping = true;
      await pool.end();
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}
