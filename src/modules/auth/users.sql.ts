import type { Role, Tier } from '../../common/auth/principal.js';
import { sql } from '../../database/sql.js';
import { AUTH_CHANNEL } from './principal-cache.js';

export interface UserRow {
  id: string;
  name: string;
  email: string;
  tier: Tier;
  role: Role;
  created_at: Date;
  updated_at: Date;
  cursor_ts: string;
}

const COLUMNS = 'id, name, email, tier, role, created_at, updated_at, created_at::text AS cursor_ts';

/** $1 name, $2 email, $3 tier, $4 role. No row when the email is taken (case-insensitive). */
export const INSERT_USER = sql<UserRow>(
  'users.insert',
  `
  INSERT INTO users (name, email, tier, role) VALUES ($1, $2, $3, $4)
  ON CONFLICT ((lower(email))) DO NOTHING
  RETURNING ${COLUMNS}`,
);

/** $1 id. Run on every `GET /me`: prepared. */
export const FIND_USER_BY_ID = sql<UserRow>('users.findById', `SELECT ${COLUMNS} FROM users WHERE id = $1`, {
  prepare: true,
});

/** $1 email, compared case-insensitively. */
export const FIND_USER_BY_EMAIL = sql<UserRow>(
  'users.findByEmail',
  `SELECT ${COLUMNS} FROM users WHERE lower(email) = lower($1)`,
);

/** Newest first. $1 limit, $2/$3 the keyset (created_at, id) to continue after, or NULL. */
export const LIST_USERS = sql<UserRow>(
  'users.list',
  `
  SELECT ${COLUMNS} FROM users
   WHERE ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
   ORDER BY created_at DESC, id DESC LIMIT $1`,
);

/**
 * $1 id; $2 tier, $3 role, $4 name, each NULL to keep. Role and tier are part of every cached
 * principal: the NOTIFY (delivered on commit) makes every instance drop its cache.
 *
 * Never demotes the last admin: an admin becomes a user only while another admin holds an active
 * key (else no row, as for an unknown id). Callers that demote hold {@link LOCK_ADMINS}, so two
 * demotions cannot each count the other's admin.
 */
export const UPDATE_USER = sql<UserRow>(
  'users.update',
  `
  UPDATE users SET tier = coalesce($2, tier), role = coalesce($3, role), name = coalesce($4, name), updated_at = now()
   WHERE id = $1
     AND (role <> 'admin' OR coalesce($3, role) <> 'user'
          OR EXISTS (SELECT 1 FROM users a JOIN api_keys k ON k.user_id = a.id
                      WHERE a.role = 'admin' AND a.id <> $1 AND k.revoked_at IS NULL))
  RETURNING ${COLUMNS}, pg_notify('${AUTH_CHANNEL}', id::text)`,
);

export const COUNT_USERS = sql<{ n: string }>('users.count', 'SELECT count(*) AS n FROM users');

/**
 * Serializes, until the transaction ends, every change to who can administer: the admin bootstrap
 * of instances starting together, demotions and key revocations (each checks that an admin with an
 * active key remains). $1 the lock key.
 */
export const LOCK_ADMINS = sql('users.lockAdmins', 'SELECT pg_advisory_xact_lock($1)');
