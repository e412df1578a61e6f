import type { Principal } from '../../common/auth/principal.js';
import { sql } from '../../database/sql.js';
import { AUTH_CHANNEL } from './principal-cache.js';

export interface ApiKeyRow {
  id: string;
  user_id: string;
  name: string | null;
  prefix: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const COLUMNS = 'id, user_id, name, prefix, created_at, last_used_at, revoked_at';

/**
 * $1 key hash. The hot path of every authenticated request that misses the principal cache: one
 * probe of `api_keys_key_hash_key`, prepared.
 */
export const FIND_PRINCIPAL_BY_HASH = sql<{
  key_id: string;
  user_id: string;
  role: Principal['role'];
  tier: Principal['tier'];
  last_used_at: Date | null;
}>(
  'apiKeys.findPrincipalByHash',
  `
  SELECT k.id AS key_id, k.last_used_at, u.id AS user_id, u.role, u.tier
    FROM api_keys k JOIN users u ON u.id = k.user_id
   WHERE k.key_hash = $1 AND k.revoked_at IS NULL`,
  { prepare: true },
);

/** $1 key hash: the key's owner, revoked keys included (a hash is never registered twice). */
export const FIND_API_KEY_BY_HASH = sql<{ user_id: string; revoked: boolean }>(
  'apiKeys.findByHash',
  'SELECT user_id, revoked_at IS NOT NULL AS revoked FROM api_keys WHERE key_hash = $1',
);

/** $1 key hash. Makes a revoked key work again (the ADMIN_API_KEY, at start). */
export const UNREVOKE_API_KEY_BY_HASH = sql(
  'apiKeys.unrevokeByHash',
  'UPDATE api_keys SET revoked_at = NULL WHERE key_hash = $1 AND revoked_at IS NOT NULL',
);

/** $1 key id: its owner, revoked or not. */
export const FIND_API_KEY_OWNER = sql<{ user_id: string }>(
  'apiKeys.findOwner',
  'SELECT user_id FROM api_keys WHERE id = $1',
);

/** $1 key id. Writes at most once a minute per key, so authentication does not write on every request. */
export const TOUCH_API_KEY = sql(
  'apiKeys.touch',
  `
  UPDATE api_keys SET last_used_at = now()
   WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
);

/** $1 user id, $2 name, $3 key hash, $4 display prefix. */
export const INSERT_API_KEY = sql<ApiKeyRow>(
  'apiKeys.insert',
  `
  INSERT INTO api_keys (user_id, name, key_hash, prefix) VALUES ($1, $2, $3, $4)
  RETURNING ${COLUMNS}`,
);

/** $1 user id. Newest first. */
export const LIST_API_KEYS_BY_USER = sql<ApiKeyRow>(
  'apiKeys.listByUser',
  `SELECT ${COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC, id DESC`,
);

// Revoking twice keeps the first time. The NOTIFY is delivered when the UPDATE commits: every
// instance drops its cached principals.
const REVOKE = `UPDATE api_keys k SET revoked_at = coalesce(k.revoked_at, now())`;
const NOTIFY = `pg_notify('${AUTH_CHANNEL}', k.id::text)`;

// The last active key of the last admin is never revoked (no row, as for an unknown key): an active
// key, of an admin, needs another admin's active key (or another of its own) to remain. Callers hold
// users.lockAdmins, so two revocations cannot each count the other's key.
const KEEPS_AN_ADMIN = `
     AND (k.revoked_at IS NOT NULL
          OR NOT EXISTS (SELECT 1 FROM users u WHERE u.id = k.user_id AND u.role = 'admin')
          OR EXISTS (SELECT 1 FROM api_keys o JOIN users a ON a.id = o.user_id
                      WHERE a.role = 'admin' AND o.revoked_at IS NULL AND o.id <> k.id))`;

/** $1 user id, $2 key id: revokes the key only if `$1` owns it. */
export const REVOKE_API_KEY = sql<{ id: string }>(
  'apiKeys.revoke',
  `
  ${REVOKE}
   WHERE k.id = $2 AND k.user_id = $1${KEEPS_AN_ADMIN}
  RETURNING k.id, ${NOTIFY}`,
);

/** $1 key id: any user's key (admins). */
export const REVOKE_ANY_API_KEY = sql<{ id: string }>(
  'apiKeys.revokeAny',
  `
  ${REVOKE}
   WHERE k.id = $1${KEEPS_AN_ADMIN}
  RETURNING k.id, ${NOTIFY}`,
);
