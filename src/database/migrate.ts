import { ConfigError, loadConfig } from '../config/config.js';
import { createLogger } from '../common/logging/logger.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { revertLastMigration, runMigrations } from './migrator.js';

/**
 * `npm run migration:run` / `npm run migration:revert`. Against DATABASE_URL, or against the
 * embedded PostgreSQL in ./.data when DATABASE_URL is unset (the same default as `npm start`).
 */
async function main(command: string | undefined): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const embedded = config.database.url
    ? undefined
    : await startEmbeddedPostgres({ ...config.database.embedded, database: 'conveyor', logger });
  const url = config.database.url ?? embedded!.url;
  try {
    if (command === 'run') {
      const ran = await runMigrations(url);
      logger.info({ migrations: ran }, ran.length ? `applied ${ran.length} migration(s)` : 'schema is up to date');
    } else if (command === 'revert') {
      const reverted = await revertLastMigration(url);
      logger.info({ migration: reverted }, reverted ? `reverted ${reverted}` : 'nothing to revert');
    } else {
      throw new Error(`usage: migrate.js run|revert (got ${command ?? 'nothing'})`);
    }
  } finally {
    await embedded?.stop();
  }
}

main(process.argv[2]).catch((error: unknown) => {
  process.stderr.write(`${error instanceof ConfigError ? error.message : String((error as Error)?.stack ?? error)}\n`);
  process.exit(1);
});
