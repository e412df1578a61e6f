import { Module } from '@nestjs/common';
import { JobTypesModule } from '../job-types/job-types.module.js';
import { JobChanges } from './job-changes.js';
import { JobLifecycle } from './job-lifecycle.service.js';
import { JobWorkerService } from './worker/job-worker.service.js';
import { TransitionWriteMarks } from './transition-write-marks.js';
import { QueueSweeperService } from './worker/queue-sweeper.service.js';

/**
 * The queue: JobLifecycle, the one owner of every job transition; JobChanges, the feed that
 * publishes them; the worker and the sweeper (which start only when ROLE runs workers). Jobs,
 * batches and pipelines import it; it imports none of them.
 */
@Module({
  imports: [JobTypesModule],
  providers: [JobChanges, JobLifecycle, JobWorkerService, QueueSweeperService, TransitionWriteMarks],
  exports: [JobChanges, JobLifecycle, JobWorkerService, QueueSweeperService],
})
export class QueueModule {}
