import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthDetailedController } from './health-detailed.controller.js';
import { HealthController } from './health.controller.js';

@Module({
  imports: [TerminusModule.forRoot({ errorLogStyle: 'json' })],
  controllers: [HealthController, HealthDetailedController],
})
export class HealthModule {}
