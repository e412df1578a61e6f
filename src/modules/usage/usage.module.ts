import { Module } from '@nestjs/common';
import { UsageController } from './usage.controller.js';
import { UsageRepository } from './usage.repository.js';
import { UsageService } from './usage.service.js';

/** Credits and usage reports. The credits are charged, and the quota enforced, by the queue's enqueue statements. */
@Module({
  controllers: [UsageController],
  providers: [UsageRepository, UsageService],
})
export class UsageModule {}
