import { Global, Logger, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { Logger as TypeOrmLogger } from 'typeorm';
import { AppConfig } from '../config/config.js';
import { MIGRATIONS } from '../../migrations/index.js';
import { Db } from './db.js';
import { PgListener } from './pg-listener.js';
import { WriteMarks } from './write-marks.js';

/** TypeORM runs no application statement (Db does, and times them); it logs only its own failures and migrations. */
class SlowQueryLogger implements TypeOrmLogger {
  private readonly logger = new Logger('Database');
  logQuery(): void {}
  logQueryError(error: string | Error, query: string): void {
    this.logger.debug({ msg: 'query failed', error: String(error), query: query.slice(0, 2000) });
  }
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(message: string): void {
    this.logger.log(message);
  }
  log(level: 'log' | 'info' | 'warn', message: unknown): void {
    if (level === 'warn') this.logger.warn(String(message));
  }
}

/** TypeORM's `pg` pool behind {@link Db}, and the shared LISTEN connection. The schema comes only from migrations; `synchronize` is never on. */
@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        type: 'postgres' as const,
        url: config.database.url,
        synchronize: false,
        migrationsRun: false,
        migrations: MIGRATIONS,
        migrationsTableName: 'migrations',
        entities: [],
        logger: new SlowQueryLogger(),
        logging: ['error', 'warn', 'migration'],
        // Fail fast instead of retrying for minutes: readiness reports the outage, the pool reconnects.
        retryAttempts: 3,
        retryDelay: 1000,
        extra: {
          // The rest of DB_POOL_SIZE is the Db provider's pool for prepared statements.
          max: Math.max(1, config.database.poolSize - config.database.preparedPoolSize),
          connectionTimeoutMillis: 5000,
          idleTimeoutMillis: 30_000,
          application_name: `conveyor-${config.role}`,
          // No `plan_cache_mode=force_generic_plan` here (it is on the prepared statements' pool,
          // see Db): it applies to every parameterised statement, and the list queries'
          // `($n IS NULL OR …)` filters need a plan made for their values (a generic one read 1M
          // rows: 95 ms a page).
        },
      }),
    }),
  ],
  providers: [Db, PgListener, WriteMarks],
  exports: [Db, PgListener, WriteMarks],
})
export class DatabaseModule {}
