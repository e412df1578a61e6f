import { Controller, Get, Query, Res } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiOperation, ApiTags, getSchemaPath } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AdminOnly, Authenticated, CurrentUser } from '../../common/auth/auth.decorators.js';
import type { Principal } from '../../common/auth/principal.js';
import { ApiProblems } from '../../common/http/api-problems.decorator.js';
import {
  AdminUsageDto,
  UsageExportDto,
  UsageExportQueryDto,
  UsageQueryDto,
  UsageResponseDto,
} from './dto/usage.dto.js';
import { UsageService } from './usage.service.js';

@ApiTags('Usage')
@ApiExtraModels(UsageExportDto)
@Controller()
export class UsageController {
  constructor(private readonly usage: UsageService) {}

  @Get('usage')
  @Authenticated()
  @ApiOperation({ operationId: 'getUsage', summary: 'Credits used and left this month (or `month`), by job type' })
  @ApiOkResponse({ type: UsageResponseDto })
  @ApiProblems(422)
  get(@CurrentUser() me: Principal, @Query() query: UsageQueryDto): Promise<UsageResponseDto> {
    return this.usage.forUser(me, query.month);
  }

  @Get('usage/export')
  @Authenticated()
  @ApiOperation({
    operationId: 'exportUsage',
    summary: 'Billing export of a month: one row per day (UTC) and job type, as CSV or JSON',
  })
  @ApiOkResponse({
    description: 'CSV (`format=csv`, the default) with a header row, or JSON (`format=json`): the same rows',
    content: {
      'text/csv': {
        schema: { type: 'string', description: 'userId,date,jobType,jobs,credits' },
        example: 'userId,date,jobType,jobs,credits\n0b5c2f0e-8d1a-4c55-9a43-2f6f1b7f0c11,2026-11-28,hash,12,12\n',
      },
      'application/json': { schema: { $ref: getSchemaPath(UsageExportDto) } },
    },
  })
  @ApiProblems(422)
  async export(
    @CurrentUser() me: Principal,
    @Query() query: UsageExportQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<UsageExportDto | string> {
    const body = await this.usage.export(me, query.month, query.format);
    if (typeof body === 'string') {
      reply.header('content-type', 'text/csv; charset=utf-8');
      reply.header('content-disposition', `attachment; filename="usage-${query.month ?? 'current'}.csv"`);
    }
    return body;
  }

  @Get('admin/usage')
  @AdminOnly()
  @ApiOperation({ operationId: 'adminUsage', summary: 'Every user’s credits used this month (or `month`), most first' })
  @ApiOkResponse({ type: AdminUsageDto })
  @ApiProblems(422)
  all(@Query() query: UsageQueryDto): Promise<AdminUsageDto> {
    return this.usage.allUsers(query.month);
  }
}
