import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../../config/config.js';
import { Db, type Queryable } from '../../database/db.js';
import { ApiKeysRepository } from './api-keys.repository.js';
import { displayPrefix, generateApiKey, hashApiKey } from './api-key.util.js';
import { UsersRepository } from './users.repository.js';

const ADMIN_EMAIL = 'admin@conveyor.local';

/**
 * Makes sure an admin can log in on a new installation:
 * - with ADMIN_API_KEY set, an admin user holding that key exists (created if missing); a key that
 *   was revoked is restored and a user that was demoted is an admin again, so a restart always
 *   ends an admin lock-out (to retire the key, change ADMIN_API_KEY);
 * - otherwise an empty database gets an admin whose new key is printed once.
 * Runs in one transaction under an advisory lock, so several instances starting together create one admin.
 */
@Injectable()
export class AdminBootstrapService implements OnApplicationBootstrap {
  private readonly logger = new Logger(AdminBootstrapService.name);

  constructor(
    private readonly db: Db,
    private readonly users: UsersRepository,
    private readonly keys: ApiKeysRepository,
    private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const printed = await this.db.transaction(async (tx) => {
      await this.users.lockAdmins(tx);
      const configured = this.config.adminApiKey;
      if (configured) {
        const hash = hashApiKey(configured);
        const registered = await this.keys.findByHash(hash, tx);
        if (registered) {
          await this.restore(registered, hash, tx);
          return undefined;
        }
        const adminId = await this.findOrCreateAdmin(tx);
        await this.keys.create(adminId, 'ADMIN_API_KEY', hash, displayPrefix(configured), tx);
        this.logger.log('admin API key from ADMIN_API_KEY registered');
        return undefined;
      }
      if ((await this.users.count(tx)) > 0) return undefined;
      const adminId = await this.findOrCreateAdmin(tx);
      const { key, hash, prefix } = generateApiKey();
      await this.keys.create(adminId, 'bootstrap', hash, prefix, tx);
      return key;
    });
    if (printed) {
      this.logger.warn('empty database: created an admin user; its API key is printed below, once');
      // Deliberately not through the logger, which redacts keys: this is the one time the key is shown.
      process.stdout.write(`\n  Conveyor admin API key (shown once, store it now):\n\n    ${printed}\n\n`);
    }
  }

  /** The ADMIN_API_KEY is registered: it works again, and its user is an admin again. */
  private async restore(key: { userId: string; revoked: boolean }, hash: Buffer, tx: Queryable): Promise<void> {
    if (key.revoked) {
      await this.keys.unrevokeByHash(hash, tx);
      this.logger.warn('the ADMIN_API_KEY key had been revoked: restored (set a new ADMIN_API_KEY to retire it)');
    }
    const user = await this.users.findById(key.userId, tx);
    if (user && user.role !== 'admin') {
      // Through the ordinary update, so the role change NOTIFYs the principal caches like any other.
      await this.users.update(user.id, { role: 'admin' }, tx);
      this.logger.warn({ userId: user.id }, 'the user of the ADMIN_API_KEY had been demoted: made an admin again');
    }
  }

  private async findOrCreateAdmin(tx: Queryable): Promise<string> {
    const found = await this.users.findByEmail(ADMIN_EMAIL, tx);
    if (found) {
      // Through the ordinary update, so the role change NOTIFYs the principal caches like any other.
      await this.users.update(found.id, { role: 'admin' }, tx);
      return found.id;
    }
    const created = await this.users.create(
      { name: 'Administrator', email: ADMIN_EMAIL, tier: 'enterprise', role: 'admin' },
      tx,
    );
    // Under the lock no other instance inserts it; only a concurrent POST /admin/users with this email could.
    if (!created) throw new Error(`could not create the admin user: ${ADMIN_EMAIL} was taken concurrently`);
    return created.id;
  }
}
