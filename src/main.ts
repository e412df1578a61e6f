import 'reflect-metadata';
import { createApp } from './app.factory.js';
import { LifecycleState } from './common/lifecycle/lifecycle.state.js';
import { createLogger, endLogs } from './common/logging/logger.js';
import { ConfigError, loadConfig } from './config/config.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './database/embedded-postgres.js';
import { runMigrations } from './database/migrator.js';

/**
 * Boot order: validate config → (embedded PostgreSQL) → migrations → app → listen.
 * Shutdown order (SIGTERM/SIGINT): readiness 503 and the job worker stops claiming → drain delay
 * (the instance still serves) → HTTP closes (in-flight requests are answered) → Nest's shutdown
 * hooks: the job worker (in-flight jobs finish or are released) and the webhook dispatcher stop
 * (beforeApplicationShutdown), then Redis and PostgreSQL close (onApplicationShutdown) → stop the
 * embedded PostgreSQL → exit.
 */
async function bootstrap(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);

  let embedded: EmbeddedPostgres | undefined;
  if (!config.database.url) {
    embedded = await startEmbeddedPostgres({ ...config.database.embedded, database: 'conveyor', logger });
    config = loadConfig({ ...process.env, DATABASE_URL: embedded.url });
  }
  const databaseUrl = config.database.url!;

  /** Exits once the lines logged so far are out (see endLogs); the first caller's code wins. */
  let exiting = false;
  const exit = async (code: number): Promise<void> => {
    if (exiting) return;
    exiting = true;
    try {
      await endLogs(logger);
    } finally {
      process.exit(code);
    }
  };

  const lifecycle = new LifecycleState();
  let shuttingDown = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ signal, drainMs: config.shutdown.drainMs }, 'shutting down: readiness is now 503');
    lifecycle.beginShutdown();
    const force = setTimeout(() => {
      logger.error('shutdown timed out; exiting');
      void exit(1);
    }, config.shutdown.timeoutMs);
    force.unref();
    try {
      // Give load balancers time to see the 503 before connections start being refused.
      if (config.shutdown.drainMs > 0) await new Promise((r) => setTimeout(r, config.shutdown.drainMs));
      lifecycle.closing = true;
      if (app) {
        // HTTP first, on its own: Nest's close() would run the shutdown hooks (the worker's grace
        // period) before it. Its second close of the server, in app.close(), is a no-op.
        await app.getHttpAdapter().close();
        logger.info('HTTP server closed');
        await app.close();
        logger.info('PostgreSQL connections closed');
      }
      await embedded?.stop();
      logger.info('stopped');
      await exit(0);
    } catch (error) {
      logger.error({ err: error }, 'error during shutdown');
      await embedded?.stop();
      await exit(1);
    }
  };
  let app: Awaited<ReturnType<typeof createApp>> | undefined;
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  try {
    const ran = await runMigrations(databaseUrl);
    if (ran.length) logger.info({ migrations: ran }, `applied ${ran.length} migration(s)`);
    app = await createApp(config, logger, lifecycle);
    // Every role listens: workers serve the health probes.
    await app.listen({ port: config.http.port, host: config.http.host });
    logger.info(
      { port: config.http.port, role: config.role, embeddedDatabase: Boolean(embedded) },
      `Conveyor listening on http://${config.http.host}:${config.http.port} (docs at /docs)`,
    );
  } catch (error) {
    logger.fatal({ err: error }, 'start-up failed');
    await app?.close().catch(() => undefined);
    await embedded?.stop();
    await exit(1);
  }
}

void bootstrap();
