import { Module } from '@nestjs/common';
import { JobTypeRegistry } from './job-types/job-type.registry.js';
import { JobsController } from './jobs.controller.js';
import { JobsRepository } from './jobs.repository.js';
import { JobsService } from './jobs.service.js';
import { JobWorkerService } from './worker/job-worker.service.js';
import { QueueSweeperService } from './worker/queue-sweeper.service.js';
import { WorkerRepository } from './worker/worker.repository.js';

/** The Jobs API, the job type registry and the worker (which starts only when ROLE runs workers). */
@Module({
  controllers: [JobsController],
  providers: [JobsRepository, JobsService, JobTypeRegistry, WorkerRepository, JobWorkerService, QueueSweeperService],
  exports: [JobsService, JobTypeRegistry, JobWorkerService],
})
export class JobsModule {}
