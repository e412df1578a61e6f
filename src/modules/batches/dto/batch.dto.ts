import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { PageQueryDto } from '../../../common/pagination/pagination.js';
import { JOB_STATUSES, type JobStatus } from '../../queue/queue.types.js';
import { BATCH_STATUSES, type BatchStatus } from '../../queue/queue.types.js';

export class BatchItemDto {
  @ApiPropertyOptional({ example: 'row-42', description: 'Your id for the item; unique in the batch' })
  customId?: string;
  @ApiProperty({ example: 'hash' }) type: string;
  @ApiProperty({ type: 'object', additionalProperties: true, example: { text: 'hello', algorithm: 'sha256' } })
  input: Record<string, unknown>;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true }) metadata?: Record<string, unknown>;
}

/** Documents the JSON body; it is validated item by item by BatchItemsValidator, as NDJSON is. */
export class CreateBatchDto {
  @ApiProperty({ type: [BatchItemDto], description: 'At most BATCH_MAX_ITEMS_<TIER> items' })
  items: BatchItemDto[];
  @ApiPropertyOptional({ type: 'object', additionalProperties: true }) metadata?: Record<string, unknown>;
}

export class BatchCountsDto {
  @ApiProperty({ example: 1000 }) total: number;
  @ApiProperty({ example: 400 }) queued: number;
  @ApiProperty({ example: 10 }) running: number;
  @ApiProperty({ example: 585 }) completed: number;
  @ApiProperty({ example: 5 }) failed: number;
  @ApiProperty({ example: 0 }) cancelled: number;
}

export class BatchResponseDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ enum: BATCH_STATUSES }) status: BatchStatus;
  @ApiProperty({ type: BatchCountsDto, description: 'Counted from the job rows at the time of the request' })
  counts: BatchCountsDto;
  @ApiProperty({ type: 'object', additionalProperties: true }) metadata: Record<string, unknown>;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) completedAt: string | null;
}

export class ListBatchesQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: BATCH_STATUSES })
  @IsOptional()
  @IsIn(BATCH_STATUSES)
  status?: BatchStatus;
}

export class BatchResultsQueryDto {
  @ApiPropertyOptional({ enum: ['jsonl', 'csv'], default: 'jsonl' })
  @IsOptional()
  @IsIn(['jsonl', 'csv'])
  format: 'jsonl' | 'csv' = 'jsonl';

  @ApiPropertyOptional({ enum: JOB_STATUSES, description: 'Only items whose job has this status' })
  @IsOptional()
  @IsIn(JOB_STATUSES)
  status?: JobStatus;
}
