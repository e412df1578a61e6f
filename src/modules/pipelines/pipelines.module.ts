import { Module } from '@nestjs/common';
import { JobTypesModule } from '../job-types/job-types.module.js';
import { QueueModule } from '../queue/queue.module.js';
import { PipelinesController } from './pipelines.controller.js';
import { PipelinesRepository } from './pipelines.repository.js';
import { PipelinesService } from './pipelines.service.js';

/**
 * Pipeline definitions and runs. A run advances in the worker: completing a step's job enqueues
 * the next in the same statement (COMPLETE_STEP in modules/queue/queue.sql.ts), and a failed step fails the run.
 */
@Module({
  imports: [JobTypesModule, QueueModule],
  controllers: [PipelinesController],
  providers: [PipelinesRepository, PipelinesService],
})
export class PipelinesModule {}
