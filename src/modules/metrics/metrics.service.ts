import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { AppConfig } from '../../config/config.js';
import { Db } from '../../database/db.js';
import { CacheService } from '../cache/cache.service.js';
import { JobChanges } from '../queue/job-changes.js';
import { JobLifecycle } from '../queue/job-lifecycle.service.js';
import type { QueueChange } from '../queue/queue.types.js';
import { RateLimiter } from '../rate-limit/rate-limiter.service.js';
import { WebhookDispatcherService } from '../webhooks/dispatcher/webhook-dispatcher.service.js';
import { DETAILED } from '../health/health.sql.js';

/** A scrape reads the queue's gauges from PostgreSQL at most this often. */
const QUEUE_GAUGES_TTL_MS = 2000;

/** The queue and outbox figures, the same statement GET /health/detailed reads. */
type QueueGauges = NonNullable<typeof DETAILED.row>;
const ENDED = new Set(['completed', 'failed', 'cancelled']);

/**
 * Prometheus metrics of this process, in a registry of its own (several apps in one test process
 * must not share one). Fed from the two seams and nothing else: HTTP from the `onResponse` hook
 * (`observeRequest`), jobs from the change feed (each transition is published once, by the
 * process that made it, so instances never count one twice), statements from the Db provider;
 * the rest (queue depth, pools, cache, rate limits) is read when Prometheus scrapes.
 */
@Injectable()
export class MetricsService implements OnModuleInit {
  private readonly logger = new Logger('Metrics');
  readonly registry = new Registry();
  private readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP requests by method, route template and status',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  private readonly httpTotal = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by method, route template and status',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [this.registry],
  });
  private readonly jobsCreated = new Counter({
    name: 'conveyor_jobs_created_total',
    help: 'Jobs created, by type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  private readonly jobsFinished = new Counter({
    name: 'conveyor_jobs_finished_total',
    help: 'Jobs that ended, by type and final status (completed, failed, cancelled)',
    labelNames: ['type', 'status'] as const,
    registers: [this.registry],
  });
  private readonly jobDuration = new Histogram({
    name: 'conveyor_job_duration_seconds',
    help: 'Run time of the jobs that ended (started → finished), by type and status',
    labelNames: ['type', 'status'] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900],
    registers: [this.registry],
  });
  private readonly statementDuration = new Histogram({
    name: 'conveyor_db_statement_duration_seconds',
    help: 'SQL statements by name (src/queries/*.sql), prepared ones included',
    labelNames: ['statement'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  private readonly slowStatements = new Counter({
    name: 'conveyor_db_slow_statements_total',
    help: 'Statements slower than DB_SLOW_QUERY_MS, by name',
    labelNames: ['statement'] as const,
    registers: [this.registry],
  });
  private readonly webhookAttempts = new Counter({
    name: 'conveyor_webhook_attempts_total',
    help: 'Webhook delivery attempts by outcome (ok, gone, failed) and whether the delivery ended',
    labelNames: ['outcome', 'final'] as const,
    registers: [this.registry],
  });
  private readonly webhookLag = new Histogram({
    name: 'conveyor_webhook_delivery_lag_seconds',
    help: 'From the event to a delivery attempt (retries included)',
    labelNames: ['outcome'] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600],
    registers: [this.registry],
  });
  private queueGauges: { at: number; value: Promise<QueueGauges | undefined> } | undefined;

  constructor(
    private readonly changes: JobChanges,
    private readonly db: Db,
    private readonly cache: CacheService,
    private readonly limiter: RateLimiter,
    private readonly dispatcher: WebhookDispatcherService,
    private readonly lifecycle: JobLifecycle,
    private readonly config: AppConfig,
  ) {}

  /** False with METRICS_ENABLED=false: nothing subscribes, and the HTTP hook observes nothing. */
  get enabled(): boolean {
    return this.config.metrics.enabled;
  }

  onModuleInit(): void {
    if (!this.enabled) return;
    collectDefaultMetrics({ register: this.registry });
    this.changes.subscribe((change) => this.onChange(change));
    this.dispatcher.onAttempt((attempt) => {
      this.webhookAttempts.inc({ outcome: attempt.outcome, final: String(attempt.final) });
      this.webhookLag.observe({ outcome: attempt.outcome }, Math.max(0, attempt.lagMs) / 1000);
    });
    this.db.onStatement((run) => {
      this.statementDuration.observe({ statement: run.name }, run.durationMs / 1000);
      if (run.slow) this.slowStatements.inc({ statement: run.name });
    });
    this.scraped();
  }

  /** One finished HTTP request; `route` is the route template (never a path with ids in it). */
  observeRequest(method: string, route: string | undefined, statusCode: number, seconds: number): void {
    const labels = { method, route: route ?? 'unmatched', status_code: String(statusCode) };
    this.httpDuration.observe(labels, seconds);
    this.httpTotal.inc(labels);
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private onChange(change: QueueChange): void {
    if (change.kind !== 'job') return;
    if (change.from === null) this.jobsCreated.inc({ type: change.type });
    if (!ENDED.has(change.to)) return;
    this.jobsFinished.inc({ type: change.type, status: change.to });
    if (change.durationMs !== null) {
      this.jobDuration.observe({ type: change.type, status: change.to }, change.durationMs / 1000);
    }
  }

  /** The gauges and counters read from the rest of the process when Prometheus scrapes. */
  private scraped(): void {
    const registers = [this.registry];
    const queue = (): Promise<QueueGauges | undefined> => {
      if (!this.queueGauges || Date.now() - this.queueGauges.at > QUEUE_GAUGES_TTL_MS) {
        const value = this.db.reader.query(DETAILED).then(
          (rows) => rows[0],
          (error: unknown) => {
            this.logger.warn({ err: error }, 'could not read the queue gauges');
            return undefined;
          },
        );
        this.queueGauges = { at: Date.now(), value };
      }
      return this.queueGauges.value;
    };
    new Gauge({
      name: 'conveyor_queue_jobs',
      help: 'Jobs queued (due now or later; counted up to 100,000) and running, in the whole database',
      labelNames: ['status'] as const,
      registers,
      async collect() {
        const row = await queue();
        if (!row) return;
        this.set({ status: 'queued' }, row.queued);
        this.set({ status: 'running' }, row.running);
      },
    });
    new Gauge({
      name: 'conveyor_queue_oldest_due_seconds',
      help: 'How long the oldest due queued job has waited (0 when none waits)',
      registers,
      async collect() {
        const row = await queue();
        if (row) this.set(row.oldest_queued_seconds ?? 0);
      },
    });
    new Gauge({
      name: 'conveyor_webhook_backlog',
      help: 'Webhook deliveries pending (due now or waiting for a retry; counted up to 100,000)',
      registers,
      async collect() {
        const row = await queue();
        if (row) this.set(row.webhook_backlog);
      },
    });
    new Gauge({
      name: 'conveyor_webhook_oldest_due_seconds',
      help: 'How long the oldest due webhook delivery has waited (0 when none waits)',
      registers,
      async collect() {
        const row = await queue();
        if (row) this.set(row.oldest_due_delivery_seconds ?? 0);
      },
    });
    const db = this.db;
    new Gauge({
      name: 'conveyor_db_pool_connections',
      help: 'Connections of each pool by state (in use, idle), callers waiting, and the maximum',
      labelNames: ['pool', 'state'] as const,
      registers,
      collect() {
        for (const p of db.poolStats()) {
          this.set({ pool: p.pool, state: 'in_use' }, p.total - p.idle);
          this.set({ pool: p.pool, state: 'idle' }, p.idle);
          this.set({ pool: p.pool, state: 'waiting' }, p.waiting);
          this.set({ pool: p.pool, state: 'max' }, p.max);
        }
      },
    });
    new Gauge({
      name: 'conveyor_db_replica_up',
      help: 'Each read replica: 1 when it serves reads, 0 when it is down (its reads go to the primary)',
      labelNames: ['replica'] as const,
      registers,
      collect() {
        for (const r of db.replicaStatus()) this.set({ replica: r.name }, r.up ? 1 : 0);
      },
    });
    new Gauge({
      name: 'conveyor_db_replica_lag_seconds',
      help: 'Each read replica: how long ago it last held everything committed on the primary',
      labelNames: ['replica'] as const,
      registers,
      collect() {
        for (const r of db.replicaStatus()) if (r.lagMs !== undefined) this.set({ replica: r.name }, r.lagMs / 1000);
      },
    });
    new Counter({
      name: 'conveyor_db_reads_total',
      help: 'Reads that tolerate lag, by where they went (replica, or primary: no replica recent enough, or one failed)',
      labelNames: ['target'] as const,
      registers,
      collect() {
        this.reset();
        this.inc({ target: 'replica' }, db.reads.replica);
        this.inc({ target: 'primary' }, db.reads.primary);
      },
    });
    const cache = this.cache;
    new Counter({
      name: 'conveyor_cache_lookups_total',
      help: 'Response cache lookups by level (l1: this process, store: Redis or memory) and result; an l1 miss is a store lookup',
      labelNames: ['level', 'result'] as const,
      registers,
      collect() {
        const stats = cache.stats();
        this.reset();
        this.inc({ level: 'l1', result: 'hit' }, stats.levels.l1.hits);
        this.inc({ level: 'store', result: 'hit' }, stats.levels.store.hits);
        this.inc({ level: 'store', result: 'miss' }, stats.levels.store.misses);
        this.inc({ level: 'store', result: 'bypassed' }, stats.bypassed);
      },
    });
    new Counter({
      name: 'conveyor_cache_errors_total',
      help: 'Response cache operations that failed or timed out, by level (only the store can fail: l1 is this process)',
      labelNames: ['level'] as const,
      registers,
      collect() {
        this.reset();
        this.inc({ level: 'store' }, cache.stats().errors);
      },
    });
    const lifecycle = this.lifecycle;
    new Counter({
      name: 'conveyor_quota_refusals_total',
      help: 'Submissions refused with 429 QUOTA_EXCEEDED (monthly credits), by kind',
      labelNames: ['kind'] as const,
      registers,
      collect() {
        this.reset();
        for (const [kind, count] of Object.entries(lifecycle.quotaRefusals)) this.inc({ kind }, count);
      },
    });
    const limiter = this.limiter;
    new Counter({
      name: 'conveyor_rate_limit_refusals_total',
      help: 'Requests refused with 429 RATE_LIMITED, by tier',
      labelNames: ['tier'] as const,
      registers,
      collect() {
        this.reset();
        for (const [tier, count] of Object.entries(limiter.refused)) this.inc({ tier }, count);
      },
    });
  }
}
