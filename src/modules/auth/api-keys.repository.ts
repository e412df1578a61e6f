import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Principal } from '../../common/auth/principal.js';
import { preparedQuery } from '../../database/prepared.js';
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

/** SQL for API keys. Every method that reads a key by id takes its owner. */
@Injectable()
export class ApiKeysRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /** The hot path of every authenticated request: one probe of `api_keys_key_hash_key`, as a prepared statement. */
  async findPrincipalByHash(hash: Buffer): Promise<(Principal & { lastUsedAt: Date | null }) | undefined> {
    const rows = await preparedQuery<{
      key_id: string;
      user_id: string;
      role: Principal['role'];
      tier: Principal['tier'];
      last_used_at: Date | null;
    }>(
      this.db,
      'auth_principal_by_key_hash',
      `SELECT k.id AS key_id, k.last_used_at, u.id AS user_id, u.role, u.tier
         FROM api_keys k JOIN users u ON u.id = k.user_id
        WHERE k.key_hash = $1 AND k.revoked_at IS NULL`,
      [hash],
    );
    const row = rows[0];
    return (
      row && { apiKeyId: row.key_id, userId: row.user_id, role: row.role, tier: row.tier, lastUsedAt: row.last_used_at }
    );
  }

  /** Records use at most once a minute per key, so authentication does not write on every request. */
  async touch(id: string): Promise<void> {
    await this.db.query(
      `UPDATE api_keys SET last_used_at = now()
        WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
      [id],
    );
  }

  async create(userId: string, name: string | null, hash: Buffer, prefix: string): Promise<ApiKeyRow> {
    const rows: ApiKeyRow[] = await this.db.query(
      `INSERT INTO api_keys (user_id, name, key_hash, prefix) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
      [userId, name, hash, prefix],
    );
    return rows[0];
  }

  async listByUser(userId: string): Promise<ApiKeyRow[]> {
    return this.db.query(`SELECT ${COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC, id DESC`, [
      userId,
    ]);
  }

  /** Revokes a key; `userId` undefined is the admin's unscoped revoke. Returns false if there was no such key. */
  async revoke(id: string, userId?: string): Promise<boolean> {
    // The NOTIFY is delivered when the UPDATE commits: every instance drops its cached principals.
    const rows: Array<{ id: string }> = await this.db.query(
      `WITH revoked AS (
         UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
          WHERE id = $1 AND ($2::uuid IS NULL OR user_id = $2) RETURNING id)
       SELECT id, pg_notify('${AUTH_CHANNEL}', id::text) FROM revoked`,
      [id, userId ?? null],
    );
    return rows.length > 0;
  }
}
