import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ProblemFilter } from './common/errors/problem.filter.js';
import { LifecycleState } from './common/lifecycle/lifecycle.state.js';
import { ConfigModule } from './config/config.module.js';
import type { AppConfig } from './config/config.js';
import { DatabaseModule } from './database/database.module.js';
import { RedisModule } from './redis/redis.module.js';
import { AdminModule } from './modules/admin/admin.module.js';
import { AuthModule } from './modules/auth/auth.module.js';
import { HealthModule } from './modules/health/health.module.js';
import { BatchesModule } from './modules/batches/batches.module.js';
import { CacheModule } from './modules/cache/cache.module.js';
import { DocsModule } from './modules/docs/docs.module.js';
import { MetricsModule } from './modules/metrics/metrics.module.js';
import { JobsModule } from './modules/jobs/jobs.module.js';
import { PipelinesModule } from './modules/pipelines/pipelines.module.js';
import { RateLimitModule } from './modules/rate-limit/rate-limit.module.js';
import { UsageModule } from './modules/usage/usage.module.js';
import { WebhooksModule } from './modules/webhooks/webhooks.module.js';

/** Wires the feature modules. The config arrives already validated and with its database URL resolved. */
@Module({})
export class AppModule {
  static register(config: AppConfig, lifecycle = new LifecycleState()): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.register(config, lifecycle),
        DatabaseModule,
        RedisModule,
        AuthModule,
        // Right after AuthModule: its global guard must run after the auth guard (registration order).
        RateLimitModule,
        AdminModule,
        HealthModule,
        JobsModule,
        BatchesModule,
        PipelinesModule,
        WebhooksModule,
        UsageModule,
        CacheModule,
        MetricsModule,
        DocsModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: ProblemFilter }],
    };
  }
}
