import { Injectable } from '@nestjs/common';
import type { Principal } from '../../common/auth/principal.js';
import { Db, type Queryable } from '../../database/db.js';
import {
  FIND_API_KEY_BY_HASH,
  FIND_API_KEY_OWNER,
  FIND_PRINCIPAL_BY_HASH,
  INSERT_API_KEY,
  LIST_API_KEYS_BY_USER,
  REVOKE_ANY_API_KEY,
  REVOKE_API_KEY,
  TOUCH_API_KEY,
  UNREVOKE_API_KEY_BY_HASH,
  type ApiKeyRow,
} from './api-keys.sql.js';

export type { ApiKeyRow } from './api-keys.sql.js';

/**
 * API keys. Every method that reads or changes a key by id takes its owner, except
 * {@link ApiKeysRepository.revokeAny}, which only the admin route calls. Write methods take an
 * optional transaction (`q`).
 */
@Injectable()
export class ApiKeysRepository {
  constructor(private readonly db: Db) {}

  /** The principal of an unrevoked key, and when the key was last used. */
  async findPrincipalByHash(hash: Buffer): Promise<(Principal & { lastUsedAt: Date | null }) | undefined> {
    const [row] = await this.db.query(FIND_PRINCIPAL_BY_HASH, [hash]);
    return (
      row && { apiKeyId: row.key_id, userId: row.user_id, role: row.role, tier: row.tier, lastUsedAt: row.last_used_at }
    );
  }

  /** The owner of the key with this hash, and whether it is revoked; undefined if it was never registered. */
  async findByHash(hash: Buffer, q: Queryable = this.db): Promise<{ userId: string; revoked: boolean } | undefined> {
    const [row] = await q.query(FIND_API_KEY_BY_HASH, [hash]);
    return row && { userId: row.user_id, revoked: row.revoked };
  }

  /** Makes the revoked key with this hash work again. */
  async unrevokeByHash(hash: Buffer, q: Queryable = this.db): Promise<void> {
    await q.query(UNREVOKE_API_KEY_BY_HASH, [hash]);
  }

  /** The owner of a key, revoked or not; undefined if there is no such key. */
  async findOwner(id: string, q: Queryable = this.db): Promise<string | undefined> {
    const [row] = await q.query(FIND_API_KEY_OWNER, [id]);
    return row?.user_id;
  }

  /** Records use at most once a minute per key, so authentication does not write on every request. */
  async touch(id: string): Promise<void> {
    await this.db.query(TOUCH_API_KEY, [id]);
  }

  async create(
    userId: string,
    name: string | null,
    hash: Buffer,
    prefix: string,
    q: Queryable = this.db,
  ): Promise<ApiKeyRow> {
    const rows = await q.query(INSERT_API_KEY, [userId, name, hash, prefix]);
    return rows[0];
  }

  listByUser(userId: string): Promise<ApiKeyRow[]> {
    return this.db.query(LIST_API_KEYS_BY_USER, [userId]);
  }

  /**
   * Revokes a key of `userId`; false if `userId` has no such key, or it is the last active key of
   * the last admin. Every instance drops its cached principals.
   */
  async revoke(userId: string, id: string, q: Queryable = this.db): Promise<boolean> {
    return (await q.query(REVOKE_API_KEY, [userId, id])).length > 0;
  }

  /** Revokes any user's key (admins); false as {@link ApiKeysRepository.revoke}. Every instance drops its cached principals. */
  async revokeAny(id: string, q: Queryable = this.db): Promise<boolean> {
    return (await q.query(REVOKE_ANY_API_KEY, [id])).length > 0;
  }
}
