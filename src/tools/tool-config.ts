import { loadConfig, type AppConfig } from '../config/config.js';

/** The service's validated configuration for a command-line tool; a bad value exits 2 naming the variable. */
export function toolConfig(): AppConfig {
  try {
    return loadConfig();
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
}
