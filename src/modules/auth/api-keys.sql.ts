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

/** $1 key hash. Revoked keys count: a hash is never registered twice. */
export const API_KEY_EXISTS = sql('apiKeys.existsByHash', 'SELECT 1 FROM api_keys WHERE key_hash = $1');

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
const REVOKE = `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())`;
const NOTIFY = `pg_notify('${AUTH_CHANNEL}', id::text)`;

/** $1 user id, $2 key id: revokes the key only if `$1` owns it. */
export const REVOKE_API_KEY = sql<{ id: string }>(
  'apiKeys.revoke',
  `
  ${REVOKE}
   WHERE id = $2 AND user_id = $1
  RETURNING id, ${NOTIFY}`,
);

/** $1 key id: any user's key (admins). */
export const REVOKE_ANY_API_KEY = sql<{ id: string }>(
  'apiKeys.revokeAny',
  `
  ${REVOKE}
   WHERE id = $1
  RETURNING id, ${NOTIFY}`,
);
