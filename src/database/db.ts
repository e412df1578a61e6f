import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import pg from 'pg';
import QueryStream from 'pg-query-stream';
import type { Readable } from 'node:stream';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/config.js';
import { BEGIN, COMMIT, ROLLBACK } from './db.sql.js';
import type { Sql } from './sql.js';
import { statementContext, type StatementContext } from '../common/context/statement-context.js';
import { isReplicaFailure, ReplicaSet, type ReplicaStatus } from './replicas.js';
import { PRIMARY_LSN } from './replicas.sql.js';
import { WriteMarks } from './write-marks.js';

/** Something that runs statements: the pool ({@link Db}), a transaction, or the reader. */
export interface Queryable {
  query<R extends object>(statement: Sql<R>, params?: readonly unknown[]): Promise<R[]>;
}

/** One statement run, as every {@link Db.onStatement} listener sees it (never its parameters). */
export interface StatementRun {
  name: string;
  text: string;
  durationMs: number;
  /** Rows returned (for a stream: 1 once it has a first row, 0 if none), or undefined when it failed. */
  rows: number | undefined;
  /** At or over DB_SLOW_QUERY_MS (logged as a slow query). */
  slow: boolean;
}

type Runner = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** No connection of the stream pool came free in time (every one is serving a download), or the database is down. */
export class StreamUnavailableError extends Error {
  constructor(cause: unknown) {
    super('no database connection is free for a streamed read', { cause });
    this.name = 'StreamUnavailableError';
  }
}

/** How long a streamed read waits for a connection of its pool before giving up. */
const STREAM_CONNECT_TIMEOUT_MS = 2000;

/** Where a read went: a replica, or the primary (no replica configured, none recent enough, or one failed). */
export type ReadTarget = 'replica' | 'primary';

/**
 * The one way to PostgreSQL. Repositories take a {@link Queryable} for their writes, so a caller
 * can hand them a transaction; reads that tolerate lag go through {@link reader} (the replicas of
 * DATABASE_REPLICA_URLS, else the primary). Every statement, prepared ones included, is timed
 * here: one place for the slow-query log (DB_SLOW_QUERY_MS) and for any other listener (metrics).
 *
 * It runs on the pool of TypeORM's data source, which stays the connection and migration layer;
 * no code outside `database/` sees TypeORM. Streamed reads have a small pool of their own
 * (DB_STREAM_POOL_SIZE): a download lasts as long as its client takes to read it, and a few slow or
 * stalled clients must never hold the connections the API and the worker need.
 */
@Injectable()
export class Db implements Queryable, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Database');
  private readonly pool: pg.Pool;
  private readonly preparedPool: pg.Pool;
  private readonly streamPool: pg.Pool;
  private readonly listeners: Array<(run: StatementRun) => void> = [];
  private readonly slowMs: number;
  private readonly replicas: ReplicaSet | undefined;
  private readonly maxLagMs: number;
  /** The reads of one request share one look-up of the user's last write. */
  private readonly floors = new WeakMap<StatementContext, Promise<number>>();
  /** Reads by where they went, since start (for the metrics). */
  readonly reads: Record<ReadTarget, number> = { replica: 0, primary: 0 };

  constructor(
    @InjectDataSource() dataSource: DataSource,
    config: AppConfig,
    private readonly writeMarks: WriteMarks,
  ) {
    this.pool = (dataSource.driver as unknown as { master: pg.Pool }).master;
    this.slowMs = config.database.slowQueryMs;
    const replicas = config.database.replicas;
    this.maxLagMs = replicas.maxLagMs;
    if (replicas.urls.length > 0) {
      this.replicas = new ReplicaSet(replicas.urls, replicas.poolSize, `conveyor-${config.role}-replica`, async () => {
        return (await this.query(PRIMARY_LSN))[0].lsn;
      });
    }
    this.streamPool = new pg.Pool({
      connectionString: config.database.url,
      max: config.database.streamPoolSize,
      connectionTimeoutMillis: STREAM_CONNECT_TIMEOUT_MS,
      idleTimeoutMillis: 30_000,
      application_name: `conveyor-${config.role}-stream`,
    });
    // An idle connection that dies (database restart) must not crash the process.
    this.streamPool.on('error', (error) => this.logger.warn({ err: error }, 'idle stream connection lost'));
    // Prepared statements (the claim, completions, the key lookup: the hot ones) outside a
    // transaction run here, on their generic plan from the first execution (the plan
    // test/indexes.int.spec.ts proves). Left to `auto`, PostgreSQL kept re-planning the claim for
    // custom plans: a 20k-job drain ran at 1,008 jobs/s instead of 1,822. Not on the main pool:
    // the setting also applies to unnamed statements, whose optional filters need custom plans.
    this.preparedPool = new pg.Pool({
      connectionString: config.database.url,
      max: config.database.preparedPoolSize,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      application_name: `conveyor-${config.role}-prepared`,
      options: '-c plan_cache_mode=force_generic_plan',
    });
    this.preparedPool.on('error', (error) => this.logger.warn({ err: error }, 'idle connection lost'));
  }

  /** Replicas serve reads once a first check has dated them. */
  async onApplicationBootstrap(): Promise<void> {
    await this.replicas?.start();
  }

  /** After HTTP has closed (downloads ended), with the rest of the database connections. */
  async onApplicationShutdown(): Promise<void> {
    await Promise.all([this.streamPool.end(), this.preparedPool.end(), this.replicas?.stop()]);
    this.logger.log('database pools closed (stream, prepared, replicas)');
  }

  /** Each replica: up or not, and how far behind the primary (GET /health/detailed, metrics). Empty without replicas. */
  replicaStatus(): ReplicaStatus[] {
    return this.replicas?.status() ?? [];
  }

  /** Connections of each pool, for the metrics: in use, idle, and callers waiting for one. */
  poolStats(): Array<{
    pool: 'main' | 'prepared' | 'stream';
    total: number;
    idle: number;
    waiting: number;
    max: number;
  }> {
    return [
      { pool: 'main', ...counts(this.pool) },
      { pool: 'prepared', ...counts(this.preparedPool) },
      { pool: 'stream', ...counts(this.streamPool) },
    ];
  }

  /**
   * Reads that may be served a little behind the primary (lists, details): a replica that holds
   * everything committed more than DB_REPLICA_MAX_LAG_MS ago, and everything the request's user
   * wrote (read-your-writes: see WriteMarks); else the primary. A read the replica fails for a
   * reason of its own (connection, recovery conflict) is run again on the primary, and the replica
   * skipped until it checks out again. Without replicas, the primary.
   */
  readonly reader: Queryable = {
    query: <R extends object>(statement: Sql<R>, params: readonly unknown[] = []) => this.read(statement, params),
  };

  private async read<R extends object>(statement: Sql<R>, params: readonly unknown[]): Promise<R[]> {
    if (this.replicas) {
      const replica = this.replicas.pick(await this.readFloor());
      if (replica) {
        try {
          const rows = await this.run(replica.pool, statement, params);
          this.reads.replica += 1;
          return rows;
        } catch (error) {
          if (!isReplicaFailure(error)) throw error;
          this.replicas.down(replica, error);
        }
      }
    }
    this.reads.primary += 1;
    return this.query(statement, params);
  }

  /**
   * The time (ms since the epoch) a replica must have caught up to for this read: DB_REPLICA_MAX_LAG_MS
   * ago, or just after the user's last write when that is later.
   */
  private readFloor(): Promise<number> {
    const lagFloor = Date.now() - this.maxLagMs;
    const context = statementContext();
    if (!context || !('route' in context)) return Promise.resolve(lagFloor);
    // A request that writes reads what it wrote (a cancel answers with the cancelled job): primary.
    if (context.method !== 'GET' && context.method !== 'HEAD') return Promise.resolve(Infinity);
    const userId = context.userId;
    if (!userId) return Promise.resolve(lagFloor);
    let lastWrite = this.floors.get(context);
    if (!lastWrite) {
      lastWrite = this.writeMarks.lastWrite(userId);
      this.floors.set(context, lastWrite);
    }
    return lastWrite.then((at) => Math.max(lagFloor, at + 1));
  }

  query<R extends object>(statement: Sql<R>, params: readonly unknown[] = []): Promise<R[]> {
    return this.run(statement.prepare ? this.preparedPool : this.pool, statement, params);
  }

  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
  async transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const tx: Queryable = { query: (statement, params = []) => this.run(client, statement, params) };
    let broken: Error | undefined;
    try {
      await tx.query(BEGIN);
      const result = await work(tx);
      await tx.query(COMMIT);
      return result;
    } catch (error) {
      await tx.query(ROLLBACK).catch((rollback: Error) => (broken = rollback));
      throw error;
    } finally {
      // A connection whose ROLLBACK failed is in an unknown state: the pool drops it.
      client.release(broken);
    }
  }

  /**
   * The rows of `statement` as a stream, read through a server-side cursor `batchSize` rows at a
   * time on a connection of the stream pool, released when the stream ends, fails or is
   * destroyed. Throws StreamUnavailableError when no connection comes free within 2 s.
   */
  async stream<R extends object>(statement: Sql<R>, params: readonly unknown[], batchSize = 500): Promise<Readable> {
    let client: pg.PoolClient;
    try {
      client = await this.streamPool.connect();
    } catch (error) {
      throw new StreamUnavailableError(error);
    }
    const started = performance.now();
    const stream = client.query(new QueryStream(statement.text, [...params], { batchSize }));
    // Timed to the first row (or the end): how long the query took, not how slowly the client reads.
    let timed = false;
    const time = (rows: number | undefined): void => {
      if (timed) return;
      timed = true;
      this.emit(statement, started, rows);
    };
    let released = false;
    const release = (error?: Error): void => {
      if (released) return;
      released = true;
      client.release(error);
    };
    stream.once('data', () => time(1));
    stream.once('end', () => (time(0), release()));
    stream.once('error', (error: Error) => (time(undefined), release(error)));
    stream.once('close', () => release());
    return stream;
  }

  /** Calls `listener` after every statement (and every finished stream), in this process. */
  onStatement(listener: (run: StatementRun) => void): void {
    this.listeners.push(listener);
  }

  private async run<R extends object>(runner: Runner, statement: Sql<R>, params: readonly unknown[]): Promise<R[]> {
    const started = performance.now();
    try {
      const config: pg.QueryConfig = statement.prepare
        ? { name: statement.name, text: statement.text, values: [...params] }
        : { text: statement.text, values: [...params] };
      const result = await runner.query<R & pg.QueryResultRow>(config);
      this.emit(statement, started, result.rows.length);
      return result.rows;
    } catch (error) {
      this.emit(statement, started, undefined);
      throw error;
    }
  }

  private emit(statement: Sql<object>, started: number, rows: number | undefined): void {
    const durationMs = performance.now() - started;
    const slow = durationMs >= this.slowMs;
    // The statement's name and text, never its parameters (they carry users' payloads and keys).
    if (slow) {
      this.logger.warn({
        msg: 'slow query',
        statement: statement.name,
        durationMs: Math.round(durationMs),
        // The route or job it ran for (common/context): what to look at, without the parameters.
        ...statementContext(),
        sql: statement.text.slice(0, 2000),
      });
    }
    if (this.listeners.length === 0) return;
    const run: StatementRun = { name: statement.name, text: statement.text, durationMs, rows, slow };
    for (const listener of this.listeners) listener(run);
  }
}

function counts(pool: pg.Pool): { total: number; idle: number; waiting: number; max: number } {
  return { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: pool.options.max ?? 10 };
}
