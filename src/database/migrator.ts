import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../../migrations/index.js';
import type { Queryable } from './db.js';
import { APPLIED_MIGRATIONS, MIGRATIONS_TABLE_EXISTS } from './migrations.sql.js';

/** A data source that knows only the migrations; used by the CLI, start-up and tests. */
export function migrationDataSource(url: string): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false,
    extra: { max: 2, application_name: 'conveyor-migrate' },
  });
}

// Any constant works; it only has to be the same for every Conveyor process.
const MIGRATION_LOCK = 4_318_772_001;

/**
 * Runs `work` while holding the migration advisory lock on a connection of its own.
 *
 * The lock is polled with pg_try_advisory_lock rather than waited for with pg_advisory_lock: a
 * statement blocked on the lock holds a snapshot, and CREATE INDEX CONCURRENTLY in the lock
 * holder waits for every snapshot to go away, a deadlock PostgreSQL cannot see.
 */
async function withMigrationLock<T>(ds: DataSource, work: () => Promise<T>): Promise<T> {
  const lock = ds.createQueryRunner();
  try {
    while (!(await lock.query('SELECT pg_try_advisory_lock($1) AS ok', [MIGRATION_LOCK]))[0].ok) {
      await new Promise((r) => setTimeout(r, 200));
    }
    try {
      return await work();
    } finally {
      await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    await lock.release();
  }
}

/** Runs every pending migration; several instances starting at once migrate one after another. */
export async function runMigrations(url: string): Promise<string[]> {
  const ds = await migrationDataSource(url).initialize();
  try {
    const ran = await withMigrationLock(ds, () => ds.runMigrations({ transaction: 'each' }));
    return ran.map((m) => m.name);
  } finally {
    await ds.destroy();
  }
}

/**
 * Reverts the last applied migration. TypeORM's revert always opens a transaction unless told
 * otherwise, ignoring a migration's own `transaction = false`; we honour the flag here so the
 * CONCURRENTLY index migration can be reverted.
 */
export async function revertLastMigration(url: string): Promise<string | undefined> {
  const ds = await migrationDataSource(url).initialize();
  try {
    return await withMigrationLock(ds, () => revertLast(ds));
  } finally {
    await ds.destroy();
  }
}

async function revertLast(ds: DataSource): Promise<string | undefined> {
  const exists = await ds.query(`SELECT to_regclass('public.migrations') IS NOT NULL AS ok`);
  if (!exists[0].ok) return undefined;
  const rows: Array<{ name: string }> = await ds.query(
    'SELECT name FROM migrations ORDER BY timestamp DESC, id DESC LIMIT 1',
  );
  const last = rows[0]?.name;
  if (!last) return undefined;
  const migration = ds.migrations.find((m) => m.name === last);
  const inTransaction = (migration as { transaction?: boolean } | undefined)?.transaction !== false;
  await ds.undoLastMigration({ transaction: inTransaction ? 'each' : 'none' });
  return last;
}

/** Names of migrations not yet applied (empty when the schema is current), for the readiness probe. */
export async function pendingMigrationNames(db: Queryable): Promise<string[]> {
  const [table] = await db.query(MIGRATIONS_TABLE_EXISTS);
  const applied = new Set(table.ok ? (await db.query(APPLIED_MIGRATIONS)).map((r) => r.name) : []);
  return MIGRATIONS.map((M) => new M().name).filter((name) => !applied.has(name));
}
