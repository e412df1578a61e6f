import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../../config/config.js';
import { displayPrefix, generateApiKey, hashApiKey } from './api-key.util.js';

const BOOTSTRAP_LOCK = 4_318_772_002;
const ADMIN_EMAIL = 'admin@conveyor.local';

/**
 * Makes sure an admin can log in on a new installation:
 * - with ADMIN_API_KEY set, an admin user holding that key exists (created if missing);
 * - otherwise an empty database gets an admin whose new key is printed once.
 * Runs under an advisory lock so several instances starting together create one admin.
 */
@Injectable()
export class AdminBootstrapService implements OnApplicationBootstrap {
  private readonly logger = new Logger(AdminBootstrapService.name);

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const printed = await this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [BOOTSTRAP_LOCK]);
      const configured = this.config.adminApiKey;
      if (configured) {
        const hash = hashApiKey(configured);
        const existing: unknown[] = await tx.query('SELECT 1 FROM api_keys WHERE key_hash = $1', [hash]);
        if (existing.length) return undefined;
        const adminId = await this.findOrCreateAdmin(tx.query.bind(tx));
        await tx.query(`INSERT INTO api_keys (user_id, name, key_hash, prefix) VALUES ($1, 'ADMIN_API_KEY', $2, $3)`, [
          adminId,
          hash,
          displayPrefix(configured),
        ]);
        this.logger.log('admin API key from ADMIN_API_KEY registered');
        return undefined;
      }
      const users: Array<{ n: number }> = await tx.query('SELECT count(*)::int AS n FROM users');
      if (users[0].n > 0) return undefined;
      const adminId = await this.findOrCreateAdmin(tx.query.bind(tx));
      const { key, hash, prefix } = generateApiKey();
      await tx.query(`INSERT INTO api_keys (user_id, name, key_hash, prefix) VALUES ($1, 'bootstrap', $2, $3)`, [
        adminId,
        hash,
        prefix,
      ]);
      return key;
    });
    if (printed) {
      this.logger.warn('empty database: created an admin user; its API key is printed below, once');
      // Deliberately not through the logger, which redacts keys: this is the one time the key is shown.
      process.stdout.write(`\n  Conveyor admin API key (shown once, store it now):\n\n    ${printed}\n\n`);
    }
  }

  private async findOrCreateAdmin(
    query: (sql: string, params?: unknown[]) => Promise<Array<{ id: string }>>,
  ): Promise<string> {
    const found = await query(`SELECT id FROM users WHERE lower(email) = $1`, [ADMIN_EMAIL]);
    if (found[0]) {
      await query(`UPDATE users SET role = 'admin' WHERE id = $1`, [found[0].id]);
      return found[0].id;
    }
    const created = await query(
      `INSERT INTO users (name, email, tier, role) VALUES ('Administrator', $1, 'enterprise', 'admin') RETURNING id`,
      [ADMIN_EMAIL],
    );
    return created[0].id;
  }
}
