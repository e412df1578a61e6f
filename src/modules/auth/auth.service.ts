import { Injectable, Logger } from '@nestjs/common';
import { ApiKeyAuthenticator } from '../../common/auth/auth.guard.js';
import type { Principal } from '../../common/auth/principal.js';
import { DomainError, NotFoundError } from '../../common/errors/domain-error.js';
import { Db } from '../../database/db.js';
import { ApiKeysRepository, type ApiKeyRow } from './api-keys.repository.js';
import { generateApiKey, hashApiKey } from './api-key.util.js';
import { PrincipalCache } from './principal-cache.js';
import { UsersRepository } from './users.repository.js';

/** API keys: issue (shown once), authenticate (by hash), list (no secrets), revoke (effective at once). */
@Injectable()
export class AuthService extends ApiKeyAuthenticator {
  private readonly logger = new Logger(AuthService.name);

  constructor(
    private readonly db: Db,
    private readonly keys: ApiKeysRepository,
    private readonly users: UsersRepository,
    private readonly cache: PrincipalCache,
  ) {
    super();
  }

  async authenticate(key: string): Promise<Principal | undefined> {
    const hash = hashApiKey(key);
    const hashHex = hash.toString('hex');
    const cached = this.cache.get(hashHex);
    if (cached) return cached;
    const found = await this.keys.findPrincipalByHash(hash);
    if (!found) return undefined;
    const { lastUsedAt, ...principal } = found;
    this.cache.set(hashHex, principal);
    // With the cache, last_used_at is refreshed when the entry is (re)loaded: at most once a minute per key and instance.
    if (!lastUsedAt || Date.now() - lastUsedAt.getTime() > 60_000) {
      this.keys
        .touch(principal.apiKeyId)
        .catch((error: unknown) =>
          this.logger.warn({ err: error, apiKeyId: principal.apiKeyId }, 'could not record API key use'),
        );
    }
    return principal;
  }

  /** Issues a key for `userId`. The plaintext key is in the return value and nowhere else, ever. */
  async issueKey(userId: string, name: string | null): Promise<{ row: ApiKeyRow; key: string }> {
    const { key, hash, prefix } = generateApiKey();
    const row = await this.keys.create(userId, name, hash, prefix);
    return { row, key };
  }

  listKeys(userId: string): Promise<ApiKeyRow[]> {
    return this.keys.listByUser(userId);
  }

  /** Revokes a key of `userId`. 404 if `userId` has no such key; 409 if it is the last admin's last active key. */
  async revokeKey(userId: string, id: string): Promise<void> {
    await this.revoke(id, userId);
  }

  /** Revokes any user's key (admins). 404 if there is no such key; 409 if it is the last admin's last active key. */
  async revokeAnyKey(id: string): Promise<void> {
    await this.revoke(id);
  }

  private async revoke(id: string, owner?: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.users.lockAdmins(tx);
      if (await (owner !== undefined ? this.keys.revoke(owner, id, tx) : this.keys.revokeAny(id, tx))) return;
      const found = await this.keys.findOwner(id, tx);
      if (!found || (owner !== undefined && found !== owner)) throw new NotFoundError('API key');
      throw new DomainError(
        'CONFLICT',
        `API key ${id} is the last active key of the last admin; revoking it would leave nobody able to administer Conveyor. Create another admin key first`,
      );
    });
    // Other instances drop their caches on the NOTIFY; this one must not wait for it to arrive.
    this.cache.clear();
  }
}
