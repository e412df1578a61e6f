import { sql } from './sql.js';

/**
 * The primary's WAL position: how far a replica must have replayed to hold what was committed
 * before. The insert position, not the write position (`pg_current_wal_lsn()`): with
 * `synchronous_commit = off` a commit returns before its record is written, so the write position
 * can be short of a transaction that has already committed.
 */
export const PRIMARY_LSN = sql<{ lsn: string }>(
  'replicas.primaryLsn',
  'SELECT pg_current_wal_insert_lsn()::text AS lsn',
);

/** A replica's replayed WAL position, and whether it still is one (a promoted server is not). */
export const REPLAY_LSN = sql<{ lsn: string | null; recovery: boolean }>(
  'replicas.replayLsn',
  'SELECT pg_last_wal_replay_lsn()::text AS lsn, pg_is_in_recovery() AS recovery',
);
