import { restore } from './backup.js';
import { toolConfig } from './tool-config.js';

/**
 * `npm run db:restore -- <file> [--target-url <url>]`: restores a backup of `npm run db:backup`
 * into the target (default DATABASE_URL), all or nothing. PG_BIN_DIR names the client tools.
 */
const config = toolConfig();
const args = process.argv.slice(2);
const at = args.indexOf('--target-url');
const target = at >= 0 ? args[at + 1] : config.database.url;
const file = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--target-url');
if (!file || !target) {
  process.stderr.write(
    'usage: npm run db:restore -- <backup file> [--target-url postgres://…] (default DATABASE_URL)\n',
  );
  process.exit(2);
}
const started = Date.now();
restore(file, target, config.backup.pgBinDir).then(
  () => process.stdout.write(`${JSON.stringify({ msg: 'restored', file, ms: Date.now() - started })}\n`),
  (error: unknown) => {
    process.stderr.write(`restore failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
