import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ApiJsonValueProperty } from '../../../common/http/api-json-value.decorator.js';
import { IsIn, IsInt, IsObject, IsOptional, IsString, IsUUID, Max, MaxLength, Min } from 'class-validator';
import { IsIsoDate } from '../../../common/http/dates.js';
import { PageQueryDto } from '../../../common/pagination/pagination.js';
import { JOB_STATUSES, type JobRow, type JobStatus } from '../../queue/queue.types.js';

export const MAX_PRIORITY = 1000;
export const MAX_ATTEMPTS_LIMIT = 25;

export class CreateJobDto {
  @ApiProperty({ example: 'hash', description: 'A job type name from GET /job-types' })
  @IsString()
  @MaxLength(100)
  type: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    example: { text: 'hello', algorithm: 'sha256' },
    description: "Validated against the type's input JSON Schema",
  })
  @IsObject()
  input: Record<string, unknown>;

  @ApiPropertyOptional({ minimum: -MAX_PRIORITY, maximum: MAX_PRIORITY, default: 0, description: 'Higher runs first' })
  @IsOptional()
  @IsInt()
  @Min(-MAX_PRIORITY)
  @Max(MAX_PRIORITY)
  priority?: number;

  @ApiPropertyOptional({
    format: 'date-time',
    description: 'Do not start before this time (ISO 8601 with a time zone, years 1970–9999)',
  })
  @IsOptional()
  @IsIsoDate()
  runAt?: Date;

  @ApiPropertyOptional({ minimum: 1, maximum: MAX_ATTEMPTS_LIMIT, description: "Defaults to the type's maxAttempts" })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_ATTEMPTS_LIMIT)
  maxAttempts?: number;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, example: { customer: 'c_42' } })
  @IsOptional()
  @IsObject()
  metadata?: Record<string, unknown>;
}

export class ListJobsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: JOB_STATUSES })
  @IsOptional()
  @IsIn(JOB_STATUSES)
  status?: JobStatus;

  @ApiPropertyOptional({ example: 'hash' })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  type?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  batchId?: string;

  @ApiPropertyOptional({
    format: 'date-time',
    description: 'ISO 8601 date or date-time with a time zone, years 1970–9999',
  })
  @IsOptional()
  @IsIsoDate()
  createdAfter?: Date;

  @ApiPropertyOptional({
    format: 'date-time',
    description: 'ISO 8601 date or date-time with a time zone, years 1970–9999',
  })
  @IsOptional()
  @IsIsoDate()
  createdBefore?: Date;
}

export class JobErrorDto {
  @ApiProperty({ example: 'TIMEOUT' })
  code: string;

  @ApiProperty({ example: 'Attempt exceeded the 30000 ms timeout of type http.request' })
  message: string;
}

export class JobResponseDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: 'hash' }) type: string;
  @ApiProperty({ enum: JOB_STATUSES }) status: JobStatus;
  @ApiProperty({ example: 0 }) priority: number;
  @ApiProperty({ type: 'object', additionalProperties: true }) input: unknown;
  @ApiProperty({ type: 'object', additionalProperties: true }) metadata: Record<string, unknown>;
  @ApiProperty({ example: 1 }) attempts: number;
  @ApiProperty({ example: 3 }) maxAttempts: number;
  @ApiProperty({ format: 'uuid', nullable: true, type: String }) batchId: string | null;
  @ApiProperty({ format: 'uuid', nullable: true, type: String }) pipelineRunId: string | null;
  @ApiProperty({ type: JobErrorDto, nullable: true }) error: JobErrorDto | null;
  @ApiProperty({ description: 'Credits charged for this job', example: 1 }) cost: number;
  @ApiProperty({ format: 'date-time' }) runAt: string;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) startedAt: string | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) finishedAt: string | null;
}

export class JobResultDto {
  @ApiProperty({ format: 'uuid' }) jobId: string;
  @ApiJsonValueProperty({
    description: 'The job type’s output: any JSON value (an object for the built-in types)',
    example: { algorithm: 'sha256', hex: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824' },
  })
  output: unknown;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
}

export class JobTypeDto {
  @ApiProperty({ example: 'hash' }) name: string;
  @ApiProperty() description: string;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'JSON Schema of `input`' })
  inputSchema: Record<string, unknown>;
  @ApiProperty({ example: 1, description: 'Credits per job' }) cost: number;
  @ApiProperty({ example: 30000 }) timeoutMs: number;
  @ApiProperty({ example: 3 }) maxAttempts: number;
  @ApiJsonValueProperty({
    required: false,
    description: 'An example input',
    example: { text: 'hello', algorithm: 'sha256' },
  })
  example?: unknown;
}

export function toJobResponse(row: JobRow): JobResponseDto {
  return {
    id: row.id,
    type: row.type,
    status: row.status,
    priority: row.priority,
    input: row.input,
    metadata: row.metadata,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    batchId: row.batch_id,
    pipelineRunId: row.pipeline_run_id,
    error: row.error,
    cost: row.cost,
    runAt: row.run_at.toISOString(),
    createdAt: row.created_at.toISOString(),
    startedAt: row.started_at?.toISOString() ?? null,
    finishedAt: row.finished_at?.toISOString() ?? null,
  };
}
