import { backup } from './backup.js';
import { toolConfig } from './tool-config.js';

/**
 * `npm run db:backup`: a pg_dump of DATABASE_URL into BACKUP_DIR (default ./backups), keeping
 * BACKUP_RETENTION_DAYS (default 30) of them. PG_BIN_DIR names the client tools' directory.
 * Configuration is validated like the service's (a bad value stops it with the variable's name).
 */
const config = toolConfig();
const databaseUrl = config.database.url;
if (!databaseUrl) {
  process.stderr.write(
    'DATABASE_URL is not set. Without it the service runs on its embedded PostgreSQL (a development\n' +
      'default, kept under ./.data): this tool backs up a server you run, named by DATABASE_URL, with the\n' +
      'client tools of its major version (PG_BIN_DIR). For the embedded one, see "The embedded default"\n' +
      'in docs/DISASTER_RECOVERY_PLAN.md.\n',
  );
  process.exit(2);
}
backup({
  databaseUrl,
  dir: config.backup.dir,
  retentionDays: config.backup.retentionDays,
  binDir: config.backup.pgBinDir,
}).then(
  ({ file, bytes, deleted }) =>
    process.stdout.write(`${JSON.stringify({ msg: 'backup written', file, bytes, deleted })}\n`),
  (error: unknown) => {
    process.stderr.write(`backup failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
