import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiCreatedResponse,
  ApiExtraModels,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Authenticated, CurrentUser } from '../../common/auth/auth.decorators.js';
import type { Principal } from '../../common/auth/principal.js';
import { ApiProblems } from '../../common/http/api-problems.decorator.js';
import { sendStream } from '../../common/http/stream-reply.js';
import { UuidParam } from '../../common/http/validation.js';
import { CachedEndpoint } from '../../common/cache/cached-endpoint.decorator.js';
import { pageSchema, type Page } from '../../common/pagination/pagination.js';
import { RATE_COSTS, RateCost } from '../rate-limit/rate-cost.decorator.js';
import { BatchesService } from './batches.service.js';
import { BatchResponseDto, BatchResultsQueryDto, CreateBatchDto, ListBatchesQueryDto } from './dto/batch.dto.js';

@ApiTags('Batches')
@Authenticated()
@ApiExtraModels(BatchResponseDto)
@Controller('batches')
export class BatchesController {
  constructor(private readonly batches: BatchesService) {}

  @Post()
  @ApiOperation({
    operationId: 'createBatch',
    summary: 'Submit many jobs at once: JSON {items, metadata?} or NDJSON (one item per line), all-or-nothing',
  })
  @ApiConsumes('application/json', 'application/x-ndjson')
  @ApiBody({ type: CreateBatchDto })
  @ApiCreatedResponse({ type: BatchResponseDto })
  @ApiProblems(
    413,
    415,
    'QUOTA_EXCEEDED',
    {
      code: 'BAD_REQUEST',
      description: '`BAD_REQUEST`: the JSON body is malformed (a malformed NDJSON line is a 422 instead, see there).',
    },
    {
      code: 'VALIDATION_FAILED',
      description:
        '`VALIDATION_FAILED`: an item is invalid, or an NDJSON line is not a JSON object (malformed NDJSON is a 422, not a 400); each error names its item index or line.',
    },
  )
  @RateCost(RATE_COSTS.batchSubmit)
  create(@CurrentUser() me: Principal, @Body() body: unknown): Promise<BatchResponseDto> {
    return this.batches.create(me, body);
  }

  @Get()
  @ApiOperation({ operationId: 'listBatches', summary: 'Your batches, newest first, with counts' })
  @ApiOkResponse({ schema: pageSchema(getSchemaPath(BatchResponseDto)) })
  @ApiProblems('INVALID_CURSOR', 422)
  list(@CurrentUser() me: Principal, @Query() query: ListBatchesQueryDto): Promise<Page<BatchResponseDto>> {
    return this.batches.list(me.userId, query);
  }

  @Get(':id')
  @CachedEndpoint({ ttl: 5, keyPrefix: 'batch' })
  @ApiOperation({ operationId: 'getBatch', summary: 'A batch with its progress counts' })
  @ApiOkResponse({ type: BatchResponseDto })
  @ApiProblems(400, 404)
  get(@CurrentUser() me: Principal, @Param('id', UuidParam) id: string): Promise<BatchResponseDto> {
    return this.batches.get(me.userId, id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @ApiOperation({ operationId: 'cancelBatch', summary: 'Cancel queued jobs and abort running ones' })
  @ApiOkResponse({ type: BatchResponseDto })
  @ApiProblems(400, 404, 409)
  cancel(@CurrentUser() me: Principal, @Param('id', UuidParam) id: string): Promise<BatchResponseDto> {
    return this.batches.cancel(me.userId, id);
  }

  @Get(':id/results')
  @ApiOperation({
    operationId: 'downloadBatchResults',
    summary: 'Stream every item’s {customId, jobId, status, output | error} as JSON Lines or CSV, in upload order',
  })
  @ApiOkResponse({
    description: 'One line (JSON Lines, `format=jsonl`) or CSV row (`format=csv`, with a header row) per item',
    headers: {
      'Content-Disposition': {
        description: 'attachment; filename="batch-{id}.jsonl" (or .csv)',
        schema: { type: 'string' },
      },
    },
    content: {
      'application/x-ndjson': {
        schema: { type: 'string', description: 'One JSON object per line: {customId, jobId, status, output | error}' },
        example:
          '{"customId":"row-1","jobId":"0b5c2f0e-8d1a-4c55-9a43-2f6f1b7f0c11","status":"completed","output":{"algorithm":"sha256","hex":"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"}}\n',
      },
      'text/csv': {
        schema: { type: 'string', description: 'customId,jobId,status,output,errorCode,errorMessage' },
        example:
          'customId,jobId,status,output,errorCode,errorMessage\nrow-1,0b5c2f0e-8d1a-4c55-9a43-2f6f1b7f0c11,completed,"{""algorithm"":""sha256"",""hex"":""2cf2…""}",,\n',
      },
    },
  })
  @ApiProblems(400, 404, 422, 429, 503)
  @RateCost(RATE_COSTS.batchResults)
  async results(
    @CurrentUser() me: Principal,
    @Param('id', UuidParam) id: string,
    @Query() query: BatchResultsQueryDto,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const download = await this.batches.openResults(me.userId, id, query);
    const csv = query.format === 'csv';
    reply
      .header('content-type', csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
      .header('content-disposition', `attachment; filename="batch-${id}.${csv ? 'csv' : 'jsonl'}"`);
    await sendStream(reply, download.stream, download.stallTimeoutMs, download.done);
  }
}
