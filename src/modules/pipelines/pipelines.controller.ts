import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiExtraModels,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import { Authenticated, CurrentUser } from '../../common/auth/auth.decorators.js';
import type { Principal } from '../../common/auth/principal.js';
import { ApiProblems } from '../../common/http/api-problems.decorator.js';
import { UuidParam } from '../../common/http/validation.js';
import { CachedEndpoint } from '../../common/cache/cached-endpoint.decorator.js';
import { PageQueryDto, pageSchema, type Page } from '../../common/pagination/pagination.js';
import {
  CreatePipelineDto,
  CreateRunDto,
  ListRunsQueryDto,
  PipelineResponseDto,
  RunResponseDto,
} from './dto/pipeline.dto.js';
import { PipelinesService } from './pipelines.service.js';

@ApiTags('Pipelines')
@Authenticated()
@ApiExtraModels(PipelineResponseDto, RunResponseDto)
@Controller()
export class PipelinesController {
  constructor(private readonly pipelines: PipelinesService) {}

  @Post('pipelines')
  @ApiOperation({
    operationId: 'createPipeline',
    summary: 'Define a pipeline: steps run in order, each fed the previous output',
  })
  @ApiCreatedResponse({ type: PipelineResponseDto })
  @ApiProblems(400, 415, 422)
  create(@CurrentUser() me: Principal, @Body() dto: CreatePipelineDto): Promise<PipelineResponseDto> {
    return this.pipelines.create(me.userId, dto);
  }

  @Get('pipelines')
  @ApiOperation({ operationId: 'listPipelines', summary: 'Your pipelines, newest first' })
  @ApiOkResponse({ schema: pageSchema(getSchemaPath(PipelineResponseDto)) })
  @ApiProblems('INVALID_CURSOR', 422)
  list(@CurrentUser() me: Principal, @Query() query: PageQueryDto): Promise<Page<PipelineResponseDto>> {
    return this.pipelines.list(me.userId, query);
  }

  @Get('pipelines/:id')
  @ApiOperation({ operationId: 'getPipeline', summary: 'One pipeline' })
  @ApiOkResponse({ type: PipelineResponseDto })
  @ApiProblems(400, 404)
  get(@CurrentUser() me: Principal, @Param('id', UuidParam) id: string): Promise<PipelineResponseDto> {
    return this.pipelines.get(me.userId, id);
  }

  @Delete('pipelines/:id')
  @HttpCode(204)
  @ApiOperation({ operationId: 'deletePipeline', summary: 'Delete a pipeline; runs in flight finish' })
  @ApiNoContentResponse()
  @ApiProblems(400, 404)
  remove(@CurrentUser() me: Principal, @Param('id', UuidParam) id: string): Promise<void> {
    return this.pipelines.remove(me.userId, id);
  }

  @Post('pipelines/:id/runs')
  @ApiOperation({ operationId: 'startPipelineRun', summary: 'Run a pipeline on an input' })
  @ApiCreatedResponse({ type: RunResponseDto })
  @ApiProblems(400, 404, 409, 415, 422, 'QUOTA_EXCEEDED')
  startRun(
    @CurrentUser() me: Principal,
    @Param('id', UuidParam) id: string,
    @Body() dto: CreateRunDto,
  ): Promise<RunResponseDto> {
    return this.pipelines.startRun(me, id, dto);
  }

  @Get('pipeline-runs')
  @ApiOperation({ operationId: 'listPipelineRuns', summary: 'Your pipeline runs, newest first' })
  @ApiOkResponse({ schema: pageSchema(getSchemaPath(RunResponseDto)) })
  @ApiProblems('INVALID_CURSOR', 422)
  listRuns(@CurrentUser() me: Principal, @Query() query: ListRunsQueryDto): Promise<Page<RunResponseDto>> {
    return this.pipelines.listRuns(me.userId, query);
  }

  @Get('pipeline-runs/:id')
  @CachedEndpoint({ ttl: 5, keyPrefix: 'run' })
  @ApiOperation({ operationId: 'getPipelineRun', summary: 'A run with each step’s job id and status' })
  @ApiOkResponse({ type: RunResponseDto })
  @ApiProblems(400, 404)
  getRun(@CurrentUser() me: Principal, @Param('id', UuidParam) id: string): Promise<RunResponseDto> {
    return this.pipelines.getRun(me.userId, id);
  }

  @Post('pipeline-runs/:id/cancel')
  @HttpCode(200)
  @ApiOperation({ operationId: 'cancelPipelineRun', summary: 'Cancel a running run and its current step' })
  @ApiOkResponse({ type: RunResponseDto })
  @ApiProblems(400, 404, 409)
  cancelRun(@CurrentUser() me: Principal, @Param('id', UuidParam) id: string): Promise<RunResponseDto> {
    return this.pipelines.cancelRun(me.userId, id);
  }
}
