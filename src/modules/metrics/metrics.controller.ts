import { Controller, Get, Header, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Public } from '../../common/auth/auth.decorators.js';
import { NotFoundError } from '../../common/errors/domain-error.js';
import { AppConfig } from '../../config/config.js';
import { MetricsService } from './metrics.service.js';

/**
 * `GET /metrics` (outside /api/v1, where Prometheus looks by default), on every role, workers
 * included. Public like the health probes and never rate-limited: it carries counts and route
 * templates, no ids or payloads. Keep it off the public ingress (see the runbooks), or set
 * METRICS_PORT to serve it on a port of its own instead (MetricsServer).
 */
@ApiExcludeController()
@Controller('metrics')
export class MetricsController {
  constructor(
    private readonly metrics: MetricsService,
    private readonly config: AppConfig,
  ) {}

  @Get()
  @Public()
  @Header('Cache-Control', 'no-store')
  async scrape(@Res() reply: FastifyReply): Promise<void> {
    // Off, or on METRICS_PORT only (MetricsServer).
    if (!this.config.metrics.enabled || this.config.metrics.port) throw new NotFoundError('Route');
    const body = await this.metrics.metrics();
    await reply.type(this.metrics.contentType).send(body);
  }
}
