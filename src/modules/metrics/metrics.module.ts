import { Module } from '@nestjs/common';
import { QueueModule } from '../queue/queue.module.js';
import { RateLimitModule } from '../rate-limit/rate-limit.module.js';
import { WebhooksModule } from '../webhooks/webhooks.module.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsServer } from './metrics-server.js';
import { MetricsService } from './metrics.service.js';

/** Prometheus metrics: `GET /metrics`, fed by the change feed, the Db provider and the HTTP hook. */
@Module({
  imports: [QueueModule, RateLimitModule, WebhooksModule],
  controllers: [MetricsController],
  providers: [MetricsService, MetricsServer],
  exports: [MetricsService],
})
export class MetricsModule {}
