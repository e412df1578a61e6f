import { Module } from '@nestjs/common';
import { JobTypesModule } from '../job-types/job-types.module.js';
import { JobWorkerService } from './worker/job-worker.service.js';
import { QueueSweeperService } from './worker/queue-sweeper.service.js';
import { WorkerRepository } from './worker/worker.repository.js';

/** The queue: the worker and its upkeep (which start only when ROLE runs workers). */
@Module({
  imports: [JobTypesModule],
  providers: [WorkerRepository, JobWorkerService, QueueSweeperService],
  exports: [JobWorkerService, QueueSweeperService],
})
export class QueueModule {}
