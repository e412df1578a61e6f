import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../../migrations/index.js';

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
 * Runs every pending migration under a session advisory lock, so several instances starting at
 * once migrate one after another instead of racing. Returns the names that ran.
 */
export async function runMigrations(url: string): Promise<string[]> {
  const ds = await migrationDataSource(url).initialize();
  try {
    await ds.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const ran = await ds.runMigrations({ transaction: 'each' });
    return ran.map((m) => m.name);
  } finally {
    await ds.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
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
    await ds.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
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
  } finally {
    await ds.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await ds.destroy();
  }
}

/** Names of migrations not yet applied (empty when the schema is current). */
export async function pendingMigrations(ds: DataSource): Promise<string[]> {
  const table = await ds.query(`SELECT to_regclass('public.migrations') IS NOT NULL AS ok`);
  const applied: Set<string> = table[0].ok
    ? new Set((await ds.query('SELECT name FROM migrations')).map((r: { name: string }) => r.name))
    : new Set();
  return MIGRATIONS.map((M) => new M().name).filter((name) => !applied.has(name));
}
