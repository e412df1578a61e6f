import { Transform, Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, IsUrl, Matches, Max, Min, MinLength } from 'class-validator';

/** Turns "true"/"1"/"yes" and "false"/"0"/"no" into booleans; anything else stays and fails validation. */
function toBoolean({ value }: { value: unknown }): unknown {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  return value;
}

/** "a, b,c" → ["a", "b", "c"] (empty parts dropped); anything not a string stays and is validated as is. */
function toList({ value }: { value: unknown }): unknown {
  return typeof value === 'string'
    ? value
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean)
    : value;
}

const DURATION = /^\d+(ms|s|m|h|d)$/;
const DURATION_LIST = /^\d+(ms|s|m|h|d)(,\d+(ms|s|m|h|d))*$/;

const PG_URL = { protocols: ['postgres', 'postgresql'], require_tld: false, require_protocol: true };
const REDIS_URL = { protocols: ['redis', 'rediss'], require_tld: false, require_protocol: true };

/**
 * Every environment variable Conveyor reads. Defaults live here and in `.env.example`;
 * `test/config.spec` keeps the two in step.
 */
export class EnvSchema {
  @IsIn(['development', 'production', 'test'])
  NODE_ENV: 'development' | 'production' | 'test' = 'development';

  @IsIn(['all', 'api', 'worker'])
  ROLE: 'all' | 'api' | 'worker' = 'all';

  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 3000;

  /** Prometheus metrics: GET /metrics and what feeds it. false = no endpoint and nothing observed. */
  @Transform(toBoolean)
  @IsIn([true, false], { message: 'METRICS_ENABLED must be true or false' })
  METRICS_ENABLED = true;

  /** Serve GET /metrics on this port (on HOST) instead of PORT, keeping it off the API's ingress; 0 = on PORT. */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(65535)
  METRICS_PORT = 0;

  @IsString()
  HOST = '0.0.0.0';

  @IsOptional()
  @IsUrl(PG_URL, { message: 'DATABASE_URL must be a postgres:// URL' })
  DATABASE_URL?: string = undefined;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(200)
  DB_POOL_SIZE = 10;

  /** Connections of the separate pool that result downloads stream from, so they never take the API's or the worker's. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  DB_STREAM_POOL_SIZE = 4;

  /** Result downloads one user may have open at once on one instance (429 beyond). */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  DOWNLOADS_MAX_PER_USER = 2;

  /** A download whose client has not read for this long (the socket's buffer stays full) is ended. */
  @Type(() => Number)
  @IsInt()
  @Min(100)
  DOWNLOAD_STALL_TIMEOUT_MS = 30_000;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  DB_SLOW_QUERY_MS = 500;

  /** Streaming replicas (comma-separated postgres:// URLs) that reads tolerating lag go to; empty = none. */
  @Transform(toList)
  @IsUrl(PG_URL, { each: true, message: 'DATABASE_REPLICA_URLS must be comma-separated postgres:// URLs' })
  DATABASE_REPLICA_URLS: string[] = [];

  /** A replica further behind the primary than this (ms) is skipped until it catches up. */
  @Type(() => Number)
  @IsInt()
  @Min(100)
  DB_REPLICA_MAX_LAG_MS = 1_000;

  /** Connections of this process to each replica. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(200)
  DB_REPLICA_POOL_SIZE = 5;

  @IsString()
  EMBEDDED_PG_DATA_DIR = './.data/postgres';

  @Type(() => Number)
  @IsInt()
  @Min(1024)
  @Max(65535)
  EMBEDDED_PG_PORT = 54329;

  @IsOptional()
  @IsUrl(REDIS_URL, { message: 'REDIS_URL must be a redis:// or rediss:// URL' })
  REDIS_URL?: string = undefined;

  /** The largest response or admin value the cache stores, as JSON bytes; larger responses are served uncached. */
  @Type(() => Number)
  @IsInt()
  @Min(1024)
  CACHE_MAX_VALUE_BYTES = 262_144;

  /** Entries of the in-memory cache (used when REDIS_URL is unset); the oldest goes first. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  CACHE_MEMORY_MAX_ENTRIES = 10_000;

  /** With Redis: how long each instance keeps its own copy of a cached response (ms; 0 = no local level). Invalidated like Redis. */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(3_600_000)
  CACHE_L1_TTL_MS = 5_000;

  /** With Redis: entries of each instance's own copy; the oldest goes first. */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  CACHE_L1_MAX_ENTRIES = 10_000;

  @IsOptional()
  @IsString()
  @MinLength(32)
  @Matches(/^[\x21-\x7e]+$/, { message: 'ADMIN_API_KEY must be printable ASCII without spaces' })
  ADMIN_API_KEY?: string = undefined;

  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' = 'info';

  @Type(() => Number)
  @IsInt()
  @Min(1024)
  BODY_LIMIT_BYTES = 1_048_576;

  // At most 256: the recursive walks after the up-front scan (validation, Ajv, JSON.stringify) must not overflow the stack.
  @Type(() => Number)
  @IsInt()
  @Min(2)
  @Max(256)
  JSON_MAX_DEPTH = 32;

  @Type(() => Number)
  @IsInt()
  @Min(64)
  METADATA_LIMIT_BYTES = 16_384;

  @Transform(toBoolean)
  @IsIn([true, false], { message: 'SWAGGER_ENABLED must be true or false' })
  SWAGGER_ENABLED = true;

  @Type(() => Number)
  @IsInt()
  @Min(0)
  SHUTDOWN_DRAIN_MS = 0;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  WORKER_CONCURRENCY = 10;

  @Type(() => Number)
  @IsInt()
  @Min(10)
  WORKER_POLL_INTERVAL_MS = 1000;

  @Type(() => Number)
  @IsInt()
  @Min(1000)
  WORKER_LEASE_MS = 30_000;

  @Type(() => Number)
  @IsInt()
  @Min(100)
  WORKER_SWEEP_INTERVAL_MS = 5000;

  @Type(() => Number)
  @IsInt()
  @Min(0)
  WORKER_SHUTDOWN_GRACE_MS = 10_000;

  // Fair use of the queue: the most jobs one user may have running at once, across all workers; by tier.
  @Type(() => Number)
  @IsInt()
  @Min(1)
  QUEUE_MAX_RUNNING_FREE = 4;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  QUEUE_MAX_RUNNING_PRO = 16;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  QUEUE_MAX_RUNNING_ENTERPRISE = 64;

  /** The highest job priority a user of each tier may set (negative priorities, down to -1000, are open to all). */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(1000)
  MAX_PRIORITY_FREE = 10;

  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(1000)
  MAX_PRIORITY_PRO = 100;

  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(1000)
  MAX_PRIORITY_ENTERPRISE = 1000;

  /** Credits a user may spend per calendar month (UTC), by tier; a job, batch or run that would pass them is 429 QUOTA_EXCEEDED. */
  @Type(() => Number)
  @IsInt()
  @Min(0)
  CREDITS_MONTHLY_FREE = 1_000;

  @Type(() => Number)
  @IsInt()
  @Min(0)
  CREDITS_MONTHLY_PRO = 100_000;

  @Type(() => Number)
  @IsInt()
  @Min(0)
  CREDITS_MONTHLY_ENTERPRISE = 10_000_000;

  @Type(() => Number)
  @IsInt()
  @Min(0)
  JOB_RETENTION_DAYS = 0;

  @Type(() => Number)
  @IsInt()
  @Min(0)
  RESULT_RETENTION_DAYS = 0;

  @IsOptional()
  @IsString()
  JOB_TYPES_FILE?: string = undefined;

  @IsString()
  @Matches(/^$|^[0-9a-fA-F.:/]+(,[0-9a-fA-F.:/]+)*$/, {
    message: 'HTTP_JOB_ALLOWED_CIDRS must be a comma-separated list of CIDRs',
  })
  HTTP_JOB_ALLOWED_CIDRS = '';

  @Transform(toBoolean)
  @IsIn([true, false], { message: 'HTTP_JOB_ALLOW_HTTP must be true or false' })
  HTTP_JOB_ALLOW_HTTP = false;

  @Type(() => Number)
  @IsInt()
  @Min(1000)
  SHUTDOWN_TIMEOUT_MS = 30_000;
  @IsOptional()
  @Matches(/^[A-Za-z0-9+/]{43}=$/, {
    message: 'SECRETS_ENCRYPTION_KEY must be 32 bytes, base64 (openssl rand -base64 32)',
  })
  SECRETS_ENCRYPTION_KEY?: string = undefined;

  @IsString()
  @MinLength(1)
  SECRETS_KEY_FILE = './.data/secrets.key';

  @IsString()
  @Matches(/^$|^[0-9a-fA-F.:/]+(,[0-9a-fA-F.:/]+)*$/, {
    message: 'WEBHOOK_ALLOWED_CIDRS must be a comma-separated list of CIDRs',
  })
  WEBHOOK_ALLOWED_CIDRS = '';

  @Transform(toBoolean)
  @IsIn([true, false], { message: 'WEBHOOK_ALLOW_HTTP must be true or false' })
  WEBHOOK_ALLOW_HTTP = false;

  @Type(() => Number)
  @IsInt()
  @Min(100)
  @Max(60_000)
  WEBHOOK_TIMEOUT_MS = 10_000;

  @Matches(DURATION_LIST, {
    message: 'WEBHOOK_RETRY_SCHEDULE must be a comma-separated list of durations like 1s,5m,2h',
  })
  WEBHOOK_RETRY_SCHEDULE = '1s,2s,5s,10s,30s,5m,30m,2h,5h,10h';

  @Matches(DURATION, { message: 'WEBHOOK_RETRY_AFTER_MAX must be a duration like 1h' })
  WEBHOOK_RETRY_AFTER_MAX = '1h';

  @Matches(DURATION, { message: 'WEBHOOK_DISABLE_AFTER must be a duration like 5d' })
  WEBHOOK_DISABLE_AFTER = '5d';

  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  WEBHOOK_CONCURRENCY = 50;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT = 10;

  /** Webhook endpoints one user may have (deleted ones do not count); POST /webhooks beyond it is 409. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  WEBHOOK_MAX_ENDPOINTS = 25;

  @Type(() => Number)
  @IsInt()
  @Min(10)
  WEBHOOK_POLL_INTERVAL_MS = 1000;
  @Type(() => Number)
  @IsInt()
  @Min(1)
  BATCH_MAX_ITEMS_FREE = 100;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  BATCH_MAX_ITEMS_PRO = 10_000;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  BATCH_MAX_ITEMS_ENTERPRISE = 100_000;

  @Type(() => Number)
  @IsInt()
  @Min(1024)
  BATCH_BODY_LIMIT_BYTES = 104_857_600;

  /** Requests per minute per user of each tier (GCRA: the whole minute's allowance may come at once). */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  RATE_LIMIT_PER_MINUTE_FREE = 60;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  RATE_LIMIT_PER_MINUTE_PRO = 600;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  RATE_LIMIT_PER_MINUTE_ENTERPRISE = 6000;

  /** npm run db:backup: the directory of the dumps. */
  @IsString()
  BACKUP_DIR = './backups';

  /** npm run db:backup: dumps older than this many days are deleted after a new one is written. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  BACKUP_RETENTION_DAYS = 30;

  /** pg_dump / pg_restore's directory when they are not on PATH. */
  @IsOptional()
  @IsString()
  PG_BIN_DIR?: string = undefined;
}

export type EnvKey = keyof EnvSchema;
