import { Module } from '@nestjs/common';
import { JobsModule } from '../jobs/jobs.module.js';
import { BatchesController } from './batches.controller.js';
import { BatchesRepository } from './batches.repository.js';
import { BatchesService } from './batches.service.js';

/** Batches: bulk submission (JSON or streamed NDJSON), progress from job rows, streamed results, cancel. */
@Module({
  imports: [JobsModule],
  controllers: [BatchesController],
  providers: [BatchesRepository, BatchesService],
})
export class BatchesModule {}
