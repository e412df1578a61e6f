import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EnvSchema } from './env.schema.js';

/** The package version, from the nearest package.json (the same from `src/` and from `dist/src/`). */
export const APP_VERSION: string = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
})();

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * "1500ms", "30s", "5m", "2h", "5d" → milliseconds. Hand-written rather than the `ms` package: the
 * schema accepts exactly this form (an integer and a unit), and this is all it takes to read it.
 */
export function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) throw new Error(`not a duration: ${text}`);
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

/** Thrown at boot when the environment is invalid; its message names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Typed, validated configuration. The only place in the code base that reads `process.env`. */
export class AppConfig {
  readonly nodeEnv: EnvSchema['NODE_ENV'];
  readonly role: EnvSchema['ROLE'];
  readonly http: { port: number; host: string; bodyLimitBytes: number; swagger: boolean };
  /** Prometheus metrics: off entirely (no endpoint, nothing observed), or on `port` (0 = on the API's port). */
  readonly metrics: { enabled: boolean; port: number };
  /**
   * Bounds of request content besides the body size: nesting of any JSON body or NDJSON line, and
   * the size of `metadata` (jobs, batch items, batches, pipeline runs) as JSON.
   */
  readonly limits: { jsonMaxDepth: number; metadataBytes: number };
  readonly database: {
    /** Unset means "start the embedded PostgreSQL". */
    url: string | undefined;
    poolSize: number;
    /** Of poolSize, the connections of the pool for prepared statements (generic plans); the rest serve everything else. */
    preparedPoolSize: number;
    /** The separate pool that streamed downloads read from. */
    streamPoolSize: number;
    slowQueryMs: number;
    /** Streaming replicas for reads that tolerate lag (see Db.reader); empty = every read on the primary. */
    replicas: { urls: string[]; maxLagMs: number; poolSize: number };
    embedded: { dataDir: string; port: number };
  };
  readonly redisUrl: string | undefined;
  /** The response cache: the largest value it stores (JSON bytes), and the entries of the in-memory store (no REDIS_URL). */
  /** npm run db:backup / db:restore. */
  readonly backup: { dir: string; retentionDays: number; pgBinDir: string | undefined };
  readonly cache: { maxValueBytes: number; memoryMaxEntries: number; l1TtlMs: number; l1MaxEntries: number };
  readonly adminApiKey: string | undefined;
  readonly logLevel: EnvSchema['LOG_LEVEL'];
  readonly shutdown: { drainMs: number; timeoutMs: number };
  readonly worker: {
    concurrency: number;
    pollIntervalMs: number;
    leaseMs: number;
    sweepIntervalMs: number;
    shutdownGraceMs: number;
  };
  /**
   * Fair use, by tier: the most jobs a user may have running at once (across all workers), and the
   * highest priority a user may set.
   */
  readonly fairness: {
    maxRunning: Record<'free' | 'pro' | 'enterprise', number>;
    maxPriority: Record<'free' | 'pro' | 'enterprise', number>;
  };
  /** Credits a user may spend per calendar month (UTC), by tier. */
  readonly credits: Record<'free' | 'pro' | 'enterprise', number>;
  /** Days to keep finished standalone jobs and results; 0 keeps them forever. Purged by the worker's sweeper. */
  readonly retention: { jobDays: number; resultDays: number };
  readonly jobTypes: { file: string | undefined; httpAllowedCidrs: string[]; httpAllowHttp: boolean };
  /** Key for secrets stored encrypted (webhook signing secrets): base64 of 32 bytes, or a key file outside production. */
  readonly secrets: { key: string | undefined; keyFile: string };
  /** Result downloads: how many one user may have open per instance, and when a client that stopped reading is cut off. */
  readonly downloads: { maxPerUser: number; stallTimeoutMs: number };
  /** Items one batch may hold, by the user's tier; the body limit of POST /batches (JSON or NDJSON). */
  readonly batches: { maxItems: Record<'free' | 'pro' | 'enterprise', number>; bodyLimitBytes: number };
  /** Requests per minute per user, by tier; shared by every instance through Redis, else per instance. */
  readonly rateLimit: { perMinute: Record<'free' | 'pro' | 'enterprise', number> };
  readonly webhooks: {
    allowedCidrs: string[];
    allowHttp: boolean;
    timeoutMs: number;
    /** Waits after the 1st, 2nd, … failed attempt; used up → `failed`. */
    retryScheduleMs: number[];
    retryAfterMaxMs: number;
    disableAfterMs: number;
    concurrency: number;
    maxInFlightPerEndpoint: number;
    pollIntervalMs: number;
    /** Endpoints one user may have: every job change of a user probes each subscribed endpoint. */
    maxEndpoints: number;
  };

  constructor(env: EnvSchema) {
    this.nodeEnv = env.NODE_ENV;
    this.role = env.ROLE;
    this.http = {
      port: env.PORT,
      host: env.HOST,
      bodyLimitBytes: env.BODY_LIMIT_BYTES,
      swagger: env.SWAGGER_ENABLED,
    };
    this.metrics = { enabled: env.METRICS_ENABLED, port: env.METRICS_PORT };
    this.limits = { jsonMaxDepth: env.JSON_MAX_DEPTH, metadataBytes: env.METADATA_LIMIT_BYTES };
    this.database = {
      url: env.DATABASE_URL,
      poolSize: env.DB_POOL_SIZE,
      preparedPoolSize: Math.max(1, Math.floor(env.DB_POOL_SIZE / 2)),
      streamPoolSize: env.DB_STREAM_POOL_SIZE,
      slowQueryMs: env.DB_SLOW_QUERY_MS,
      replicas: {
        urls: env.DATABASE_REPLICA_URLS,
        maxLagMs: env.DB_REPLICA_MAX_LAG_MS,
        poolSize: env.DB_REPLICA_POOL_SIZE,
      },
      embedded: { dataDir: env.EMBEDDED_PG_DATA_DIR, port: env.EMBEDDED_PG_PORT },
    };
    this.redisUrl = env.REDIS_URL;
    this.backup = { dir: env.BACKUP_DIR, retentionDays: env.BACKUP_RETENTION_DAYS, pgBinDir: env.PG_BIN_DIR };
    this.cache = {
      maxValueBytes: env.CACHE_MAX_VALUE_BYTES,
      memoryMaxEntries: env.CACHE_MEMORY_MAX_ENTRIES,
      l1TtlMs: env.CACHE_L1_TTL_MS,
      l1MaxEntries: env.CACHE_L1_MAX_ENTRIES,
    };
    this.adminApiKey = env.ADMIN_API_KEY;
    this.logLevel = env.LOG_LEVEL;
    this.shutdown = { drainMs: env.SHUTDOWN_DRAIN_MS, timeoutMs: env.SHUTDOWN_TIMEOUT_MS };
    this.worker = {
      concurrency: env.WORKER_CONCURRENCY,
      pollIntervalMs: env.WORKER_POLL_INTERVAL_MS,
      leaseMs: env.WORKER_LEASE_MS,
      sweepIntervalMs: env.WORKER_SWEEP_INTERVAL_MS,
      shutdownGraceMs: env.WORKER_SHUTDOWN_GRACE_MS,
    };
    this.fairness = {
      maxRunning: {
        free: env.QUEUE_MAX_RUNNING_FREE,
        pro: env.QUEUE_MAX_RUNNING_PRO,
        enterprise: env.QUEUE_MAX_RUNNING_ENTERPRISE,
      },
      maxPriority: { free: env.MAX_PRIORITY_FREE, pro: env.MAX_PRIORITY_PRO, enterprise: env.MAX_PRIORITY_ENTERPRISE },
    };
    this.credits = {
      free: env.CREDITS_MONTHLY_FREE,
      pro: env.CREDITS_MONTHLY_PRO,
      enterprise: env.CREDITS_MONTHLY_ENTERPRISE,
    };
    this.retention = { jobDays: env.JOB_RETENTION_DAYS, resultDays: env.RESULT_RETENTION_DAYS };
    this.jobTypes = {
      file: env.JOB_TYPES_FILE,
      httpAllowedCidrs: splitList(env.HTTP_JOB_ALLOWED_CIDRS),
      httpAllowHttp: env.HTTP_JOB_ALLOW_HTTP,
    };
    this.batches = {
      maxItems: {
        free: env.BATCH_MAX_ITEMS_FREE,
        pro: env.BATCH_MAX_ITEMS_PRO,
        enterprise: env.BATCH_MAX_ITEMS_ENTERPRISE,
      },
      bodyLimitBytes: env.BATCH_BODY_LIMIT_BYTES,
    };
    this.rateLimit = {
      perMinute: {
        free: env.RATE_LIMIT_PER_MINUTE_FREE,
        pro: env.RATE_LIMIT_PER_MINUTE_PRO,
        enterprise: env.RATE_LIMIT_PER_MINUTE_ENTERPRISE,
      },
    };
    this.downloads = { maxPerUser: env.DOWNLOADS_MAX_PER_USER, stallTimeoutMs: env.DOWNLOAD_STALL_TIMEOUT_MS };
    this.secrets = { key: env.SECRETS_ENCRYPTION_KEY, keyFile: env.SECRETS_KEY_FILE };
    this.webhooks = {
      allowedCidrs: splitList(env.WEBHOOK_ALLOWED_CIDRS),
      allowHttp: env.WEBHOOK_ALLOW_HTTP,
      timeoutMs: env.WEBHOOK_TIMEOUT_MS,
      retryScheduleMs: splitList(env.WEBHOOK_RETRY_SCHEDULE).map(parseDuration),
      retryAfterMaxMs: parseDuration(env.WEBHOOK_RETRY_AFTER_MAX),
      disableAfterMs: parseDuration(env.WEBHOOK_DISABLE_AFTER),
      concurrency: env.WEBHOOK_CONCURRENCY,
      maxInFlightPerEndpoint: env.WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT,
      pollIntervalMs: env.WEBHOOK_POLL_INTERVAL_MS,
      maxEndpoints: env.WEBHOOK_MAX_ENDPOINTS,
    };
  }

  get runsApi(): boolean {
    return this.role === 'all' || this.role === 'api';
  }

  get runsWorker(): boolean {
    return this.role === 'all' || this.role === 'worker';
  }
}

function flatten(errors: ValidationError[]): string[] {
  return errors.flatMap((e) =>
    Object.values(e.constraints ?? {}).map((message) =>
      message.startsWith(e.property) ? message : `${e.property}: ${message}`,
    ),
  );
}

/** Validates an environment (default: `process.env`) and returns the typed config, or throws ConfigError. */
export function loadConfig(source: Record<string, string | undefined> = process.env): AppConfig {
  const known = Object.keys(new EnvSchema());
  // Empty strings mean "unset", as in most .env tooling.
  const picked = Object.fromEntries(
    known.filter((k) => source[k] !== undefined && source[k] !== '').map((k) => [k, source[k]]),
  );
  const env = plainToInstance(EnvSchema, picked, { exposeDefaultValues: true });
  const errors = validateSync(env, { forbidUnknownValues: true });
  const problems = flatten(errors);
  if (env.NODE_ENV === 'production' && !env.SECRETS_ENCRYPTION_KEY) {
    // A key file per pod would give every replica a different key: one could not read another's secrets.
    problems.push('SECRETS_ENCRYPTION_KEY is required in production (openssl rand -base64 32)');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return new AppConfig(env);
}
