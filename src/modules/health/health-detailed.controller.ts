import { Controller, Get, type OnModuleDestroy } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { statfs } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { AdminOnly } from '../../common/auth/auth.decorators.js';
import { ApiProblems } from '../../common/http/api-problems.decorator.js';
import { LifecycleState } from '../../common/lifecycle/lifecycle.state.js';
import { APP_VERSION, AppConfig } from '../../config/config.js';
import { Db } from '../../database/db.js';
import { RedisService } from '../../redis/redis.service.js';
import { HealthDetailedDto } from './dto/health-detailed.dto.js';
import { DETAILED, PING } from './health.sql.js';
import { NotRateLimited } from '../rate-limit/rate-cost.decorator.js';

/** Answers are reused this long: a dashboard refreshing every second costs one round of queries. */
const CACHE_MS = 2000;

/**
 * `GET /health/detailed`, for operators: admin only, in a controller of its own whose class says
 * so (`@AdminOnly()`), so no handler here can become public (a route that needs a role never is).
 * Every figure is bounded: the database part is one statement over partial indexes, cached 2 s.
 */
@ApiTags('Health')
@AdminOnly()
@NotRateLimited()
@Controller('health')
export class HealthDetailedController implements OnModuleDestroy {
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 20 });
  private cached: { at: number; value: Promise<HealthDetailedDto> } | undefined;

  constructor(
    private readonly db: Db,
    private readonly redis: RedisService,
    private readonly lifecycle: LifecycleState,
    private readonly config: AppConfig,
  ) {
    this.loopDelay.enable();
  }

  /** The histogram's timer would outlive the app (several apps in one test process). */
  onModuleDestroy(): void {
    this.loopDelay.disable();
  }

  @Get('detailed')
  @ApiOperation({
    operationId: 'healthDetailed',
    summary: 'Database, Redis, queue, webhook outbox and process figures of this instance (admin only)',
  })
  @ApiOkResponse({ type: HealthDetailedDto })
  @ApiProblems(401, 403)
  detailed(): Promise<HealthDetailedDto> {
    if (!this.cached || Date.now() - this.cached.at > CACHE_MS) {
      const value = this.measure();
      this.cached = { at: Date.now(), value };
      value.catch(() => (this.cached = undefined));
    }
    return this.cached.value;
  }

  private async measure(): Promise<HealthDetailedDto> {
    const [database, redis, disk] = await Promise.all([this.database(), this.redisState(), this.disk()]);
    const memory = process.memoryUsage();
    const lagMs = (ns: number): number => Math.round(ns / 1e4) / 100;
    const replicas = this.db.replicaStatus().map((r) => ({
      name: r.name,
      status: r.up ? ('up' as const) : ('down' as const),
      lagMs: r.lagMs ?? null,
      ...(r.error ? { message: r.error } : {}),
    }));
    // A replica down or behind costs the primary its reads, nothing else: degraded, like Redis.
    const replicaTrouble = replicas.some(
      (r) => r.status === 'down' || (r.lagMs ?? Infinity) > this.config.database.replicas.maxLagMs,
    );
    const result: HealthDetailedDto = {
      status: database.status === 'down' ? 'error' : redis.status === 'down' || replicaTrouble ? 'degraded' : 'ok',
      version: APP_VERSION,
      role: this.config.role,
      uptimeSeconds: Math.round(process.uptime()),
      draining: this.lifecycle.draining,
      database: database.check,
      replicas,
      redis,
      queue: database.queue,
      webhooks: database.webhooks,
      memory: {
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        heapTotalBytes: memory.heapTotal,
      },
      disk,
      eventLoop: { lagP50Ms: lagMs(this.loopDelay.percentile(50)), lagP99Ms: lagMs(this.loopDelay.percentile(99)) },
    };
    this.loopDelay.reset();
    return result;
  }

  private async database(): Promise<{
    status: 'up' | 'down';
    check: HealthDetailedDto['database'];
    queue: HealthDetailedDto['queue'];
    webhooks: HealthDetailedDto['webhooks'];
  }> {
    const started = performance.now();
    try {
      await this.db.query(PING);
      const latencyMs = Math.round((performance.now() - started) * 10) / 10;
      const [row] = await this.db.reader.query(DETAILED);
      return {
        status: 'up',
        check: { status: 'up', latencyMs },
        queue: {
          queued: row.queued,
          running: row.running,
          oldestQueuedSeconds: row.oldest_queued_seconds === null ? null : Math.round(row.oldest_queued_seconds),
        },
        webhooks: {
          backlog: row.webhook_backlog,
          oldestDueSeconds:
            row.oldest_due_delivery_seconds === null ? null : Math.round(row.oldest_due_delivery_seconds),
          failingEndpoints: row.failing_endpoints,
        },
      };
    } catch (error) {
      return {
        status: 'down',
        check: { status: 'down', latencyMs: null, message: error instanceof Error ? error.message : String(error) },
        queue: null,
        webhooks: null,
      };
    }
  }

  private async redisState(): Promise<HealthDetailedDto['redis']> {
    if (!this.config.redisUrl) return { status: 'not configured', latencyMs: null };
    const started = performance.now();
    const answer = await this.redis.run((client) => client.ping());
    return answer === undefined
      ? { status: 'down', latencyMs: null }
      : { status: 'up', latencyMs: Math.round((performance.now() - started) * 10) / 10 };
  }

  private async disk(): Promise<HealthDetailedDto['disk']> {
    try {
      const stats = await statfs(process.cwd());
      return { path: process.cwd(), freeBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize };
    } catch {
      return null;
    }
  }
}
