import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  type HealthCheckResult,
  type HealthIndicatorResult,
} from '@nestjs/terminus';
import { Public } from '../../common/auth/auth.decorators.js';
import { DomainError } from '../../common/errors/domain-error.js';
import { ApiProblems } from '../../common/http/api-problems.decorator.js';
import { LifecycleState } from '../../common/lifecycle/lifecycle.state.js';
import { AppConfig } from '../../config/config.js';
import { Db } from '../../database/db.js';
import { RedisService } from '../../redis/redis.service.js';
import { pendingMigrationNames } from '../../database/migrator.js';
import { PING } from './health.sql.js';

/** Each check by name: `{status, …figures}`. */
const CHECKS = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    required: ['status'],
    properties: { status: { type: 'string', enum: ['up', 'down', 'degraded'] } },
    additionalProperties: true,
  },
};

/**
 * Terminus's result. Its own Swagger documentation is off: it documents the 503 as Terminus's
 * JSON, and ours is problem+json (notReady).
 */
const PROBE_RESULT = {
  type: 'object',
  required: ['status', 'info', 'error', 'details'],
  properties: {
    status: { type: 'string', enum: ['ok', 'degraded'], description: 'degraded: Redis is down (still ready)' },
    info: CHECKS,
    error: CHECKS,
    details: CHECKS,
  },
};

/**
 * Kubernetes probes. Each probe is `@Public()` on its own: a probe carries no API key, and its
 * answer reveals nothing sensitive. A route added here is authenticated unless it says otherwise.
 */
@ApiTags('Health')
@Controller('health')
export class HealthController {
  /** Once the schema is current it stays current for this process; stop asking. */
  private migrationsApplied = false;

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly lifecycle: LifecycleState,
    private readonly db: Db,
    private readonly redis: RedisService,
    private readonly config: AppConfig,
  ) {}

  @Get('live')
  @Public()
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOkResponse({
    description: 'Alive',
    schema: PROBE_RESULT,
    example: {
      status: 'ok',
      info: { process: { status: 'up', uptimeSeconds: 3600 } },
      error: {},
      details: { process: { status: 'up', uptimeSeconds: 3600 } },
    },
  })
  @ApiOperation({
    operationId: 'healthLive',
    summary: 'Liveness: the process and its event loop answer',
  })
  live(): HealthCheckResult {
    // Terminus's result, built directly: this probe checks nothing outside the process, and the
    // Terminus round (promises, indicator objects, its logger) cost a third of its throughput.
    const process_ = { status: 'up' as const, uptimeSeconds: Math.round(process.uptime()) };
    return { status: 'ok', info: { process: process_ }, error: {}, details: { process: process_ } };
  }

  @Get('ready')
  @Public()
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOkResponse({
    description: 'Ready (Redis down shows as `degraded` in its check: caches and limits go on in memory)',
    schema: PROBE_RESULT,
    example: {
      status: 'ok',
      info: { lifecycle: { status: 'up' }, database: { status: 'up', latencyMs: 0.4 }, migrations: { status: 'up' } },
      error: {},
      details: {
        lifecycle: { status: 'up' },
        database: { status: 'up', latencyMs: 0.4 },
        migrations: { status: 'up' },
      },
    },
  })
  @ApiProblems({
    code: 'SERVICE_UNAVAILABLE',
    description:
      '`SERVICE_UNAVAILABLE`: not ready (draining, PostgreSQL down, migrations pending); `details` holds each check.',
  })
  @ApiOperation({
    operationId: 'healthReady',
    summary: 'Readiness: PostgreSQL answers, migrations are applied, and the instance is not draining (503 otherwise)',
  })
  async ready(): Promise<HealthCheckResult> {
    // Draining: 503 at once, whatever the dependencies would answer, and without Terminus's
    // error line per probe: an orderly drain is not a failure.
    if (this.lifecycle.draining) throw notReady({ lifecycle: { status: 'down', message: 'draining' } });
    return this.problemOn503(
      this.health.check([
        () => {
          const check = this.indicators.check('lifecycle');
          return this.lifecycle.draining ? check.down({ message: 'draining' }) : check.up();
        },
        () =>
          this.indicators
            .check('database')
            .attempt(async () => {
              const started = performance.now();
              await this.db.query(PING);
              return {
                latencyMs: Math.round((performance.now() - started) * 10) / 10,
              };
            })
            .withTimeout(2000),
        () =>
          this.indicators
            .check('migrations')
            .attempt(async () => {
              if (this.migrationsApplied) return;
              const pending = await pendingMigrationNames(this.db);
              if (pending.length) throw new Error(`pending migrations: ${pending.join(', ')}`);
              this.migrationsApplied = true;
            })
            .withTimeout(2000),
        // Redis down or slow is degraded, never unready: caches and limits go on in memory.
        ...(this.config.redisUrl ? [() => this.redisCheck()] : []),
      ]),
    );
  }

  private async redisCheck(): Promise<HealthIndicatorResult> {
    const check = this.indicators.check('redis');
    const started = performance.now();
    const answer = await this.redis.run((client) => client.ping());
    return answer === undefined
      ? check.degraded({ message: 'unreachable: caches and rate limits go on in memory, per instance' })
      : check.up({ latencyMs: Math.round((performance.now() - started) * 10) / 10 });
  }

  /** Terminus throws a 503 with the check details; keep them, inside our problem+json shape. */
  private async problemOn503(check: Promise<HealthCheckResult>): Promise<HealthCheckResult> {
    try {
      return await check;
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      const result = error.getResponse() as HealthCheckResult;
      throw notReady(result.details, Object.keys(result.error ?? {}));
    }
  }
}

/** Readiness's 503, with the checks' details inside our problem+json shape. */
function notReady(details: HealthCheckResult['details'], failing = Object.keys(details)): DomainError {
  return new DomainError('SERVICE_UNAVAILABLE', `Not ready: ${failing.join(', ')}`, { extensions: { details } });
}
