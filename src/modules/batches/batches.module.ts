import { Module } from '@nestjs/common';
import { JobTypesModule } from '../job-types/job-types.module.js';
import { QueueModule } from '../queue/queue.module.js';
import { BatchesController } from './batches.controller.js';
import { BatchesRepository } from './batches.repository.js';
import { BatchesService } from './batches.service.js';

/** Batches: bulk submission (JSON or streamed NDJSON), progress from job rows, streamed results, cancel. */
@Module({
  imports: [JobTypesModule, QueueModule],
  controllers: [BatchesController],
  providers: [BatchesRepository, BatchesService],
})
export class BatchesModule {}
