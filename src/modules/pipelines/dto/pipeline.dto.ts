import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ApiJsonValueProperty } from '../../../common/http/api-json-value.decorator.js';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsObject,
  IsOptional,
  IsString,
  MaxLength,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { PageQueryDto } from '../../../common/pagination/pagination.js';
import { JOB_STATUSES, type JobStatus } from '../../queue/queue.types.js';
import { RUN_STATUSES, type RunStatus } from '../../queue/queue.types.js';

export const MAX_STEPS = 20;

export class PipelineStepDto {
  @ApiProperty({ example: 'text.stats' })
  @IsString()
  @MaxLength(100)
  type: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'Merged over the step’s input (the run input for step 1, else the previous output)',
  })
  @IsOptional()
  @IsObject()
  params?: Record<string, unknown>;
}

export class CreatePipelineDto {
  @ApiProperty({ example: 'hash then measure' })
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  name: string;

  @ApiPropertyOptional({ example: 'Two steps' })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  description?: string;

  @ApiProperty({ type: [PipelineStepDto], description: `1–${MAX_STEPS} steps, run in order` })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_STEPS)
  @ValidateNested({ each: true })
  @Type(() => PipelineStepDto)
  steps: PipelineStepDto[];
}

export class CreateRunDto {
  @ApiProperty({ type: 'object', additionalProperties: true, example: { text: 'hello world' } })
  @IsObject()
  input: Record<string, unknown>;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  @IsOptional()
  @IsObject()
  metadata?: Record<string, unknown>;
}

export class ListRunsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: RUN_STATUSES })
  @IsOptional()
  @IsIn(RUN_STATUSES)
  status?: RunStatus;
}

export class PipelineResponseDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty({ nullable: true, type: String }) description: string | null;
  @ApiProperty({ type: [PipelineStepDto] }) steps: PipelineStepDto[];
  @ApiProperty({ format: 'date-time' }) createdAt: string;
}

export class RunStepDto {
  @ApiProperty({ example: 0 }) index: number;
  @ApiProperty({ example: 'hash' }) type: string;
  @ApiProperty({ format: 'uuid', nullable: true, type: String, description: 'null until the step starts' })
  jobId: string | null;
  @ApiProperty({ enum: [...JOB_STATUSES, 'pending'], description: 'pending: not started yet' })
  status: JobStatus | 'pending';
}

export class RunResponseDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) pipelineId: string;
  @ApiProperty({ enum: RUN_STATUSES }) status: RunStatus;
  @ApiProperty({ example: 0, description: 'Index of the step running (or that ended the run)' })
  currentStep: number;
  @ApiProperty({ type: [RunStepDto] }) steps: RunStepDto[];
  @ApiJsonValueProperty({ description: 'The last step’s output (any JSON value) once completed, else null' })
  output: unknown;
  @ApiProperty({ type: 'object', nullable: true, additionalProperties: true }) error: Record<string, unknown> | null;
  @ApiProperty({ type: 'object', additionalProperties: true }) metadata: Record<string, unknown>;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) finishedAt: string | null;
}
