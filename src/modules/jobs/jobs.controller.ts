import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiExtraModels,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Authenticated, CurrentUser } from '../../common/auth/auth.decorators.js';
import type { Principal } from '../../common/auth/principal.js';
import { DomainError } from '../../common/errors/domain-error.js';
import { ApiProblems } from '../../common/http/api-problems.decorator.js';
import { UuidParam } from '../../common/http/validation.js';
import { CachedEndpoint } from '../../common/cache/cached-endpoint.decorator.js';
import { pageSchema, wholeList, wholeListSchema, type Page } from '../../common/pagination/pagination.js';
import { CreateJobDto, JobResponseDto, JobResultDto, JobTypeDto, ListJobsQueryDto } from './dto/job.dto.js';
import { JobsService } from './jobs.service.js';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

@ApiTags('Jobs')
@Authenticated()
@ApiExtraModels(JobResponseDto, JobTypeDto)
@Controller()
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  @Get('job-types')
  @CachedEndpoint({ ttl: 60, keyPrefix: 'job-types' })
  @ApiOperation({ operationId: 'listJobTypes', summary: 'The job type catalog: input schema, cost, timeout, attempts' })
  @ApiOkResponse({ schema: wholeListSchema(getSchemaPath(JobTypeDto)) })
  listJobTypes(): Page<JobTypeDto> {
    return wholeList(this.jobs.listTypes());
  }

  @Post('jobs')
  @ApiOperation({ operationId: 'createJob', summary: 'Submit a job' })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description:
      'Same key and body returns the original job (header Idempotent-Replayed: true); a different body is 409',
  })
  @ApiCreatedResponse({ type: JobResponseDto })
  @ApiProblems(400, 409, 'IDEMPOTENCY_CONFLICT', 413, 415, 422, 'QUOTA_EXCEEDED')
  async createJob(
    @CurrentUser() me: Principal,
    @Body() dto: CreateJobDto,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<JobResponseDto> {
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      throw new DomainError('BAD_REQUEST', 'Idempotency-Key must be 1–255 printable ASCII characters', {
        errors: [{ field: 'Idempotency-Key', message: 'must be 1–255 printable ASCII characters' }],
      });
    }
    const { job, replayed } = await this.jobs.create(me, dto, idempotencyKey);
    if (replayed) void reply.header('idempotent-replayed', 'true');
    return job;
  }

  @Get('jobs')
  @ApiOperation({ operationId: 'listJobs', summary: 'List your jobs, newest first, with filters' })
  @ApiOkResponse({ schema: pageSchema(getSchemaPath(JobResponseDto)) })
  @ApiProblems('INVALID_CURSOR', 422)
  listJobs(@CurrentUser() me: Principal, @Query() query: ListJobsQueryDto): Promise<Page<JobResponseDto>> {
    return this.jobs.list(me.userId, query);
  }

  @Get('jobs/:id')
  @CachedEndpoint({ ttl: 60, keyPrefix: 'job' })
  @ApiOperation({ operationId: 'getJob', summary: 'Get a job (X-Cache: HIT|MISS)' })
  @ApiOkResponse({ type: JobResponseDto })
  @ApiProblems(400, 404)
  getJob(@CurrentUser() me: Principal, @Param('id', UuidParam) id: string): Promise<JobResponseDto> {
    return this.jobs.get(me.userId, id);
  }

  @Get('jobs/:id/result')
  @CachedEndpoint({ ttl: 30, keyPrefix: 'job-result' })
  @ApiOperation({
    operationId: 'getJobResult',
    summary: 'Get a completed job’s result (409 JOB_NOT_FINISHED before; 410 RESULT_EXPIRED after retention)',
  })
  @ApiOkResponse({ type: JobResultDto })
  @ApiProblems(400, 404, 'JOB_NOT_FINISHED', 'RESULT_EXPIRED')
  getJobResult(@CurrentUser() me: Principal, @Param('id', UuidParam) id: string): Promise<JobResultDto> {
    return this.jobs.result(me.userId, id);
  }

  @Post('jobs/:id/cancel')
  @HttpCode(200)
  @ApiOperation({ operationId: 'cancelJob', summary: 'Cancel a queued or running job (a running handler is aborted)' })
  @ApiOkResponse({ type: JobResponseDto })
  @ApiProblems(400, 404, 'JOB_NOT_CANCELLABLE')
  cancelJob(@CurrentUser() me: Principal, @Param('id', UuidParam) id: string): Promise<JobResponseDto> {
    return this.jobs.cancel(me.userId, id);
  }

  @Post('jobs/:id/retry')
  @HttpCode(200)
  @ApiOperation({ operationId: 'retryJob', summary: 'Put a failed or cancelled job back in the queue' })
  @ApiOkResponse({ type: JobResponseDto })
  @ApiProblems(400, 404, 'JOB_NOT_RETRYABLE')
  retryJob(@CurrentUser() me: Principal, @Param('id', UuidParam) id: string): Promise<JobResponseDto> {
    return this.jobs.retry(me.userId, id);
  }
}
