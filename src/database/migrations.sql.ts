import { sql } from './sql.js';

/** Whether the migrations table exists yet (it does not on an empty database). */
export const MIGRATIONS_TABLE_EXISTS = sql<{ ok: boolean }>(
  'migrations.tableExists',
  `SELECT to_regclass('public.migrations') IS NOT NULL AS ok`,
);

/** The names of the applied migrations; only once {@link MIGRATIONS_TABLE_EXISTS}. */
export const APPLIED_MIGRATIONS = sql<{ name: string }>('migrations.appliedNames', 'SELECT name FROM migrations');
