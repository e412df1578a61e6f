import { Module } from '@nestjs/common';
import { JobTypesModule } from '../job-types/job-types.module.js';
import { QueueModule } from '../queue/queue.module.js';
import { JobsController } from './jobs.controller.js';
import { JobsRepository } from './jobs.repository.js';
import { JobsService } from './jobs.service.js';

/** The Jobs API. */
@Module({
  imports: [JobTypesModule, QueueModule],
  controllers: [JobsController],
  providers: [JobsRepository, JobsService],
  exports: [JobsService],
})
export class JobsModule {}
