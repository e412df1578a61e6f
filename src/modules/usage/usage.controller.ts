import { Controller, Get, Query, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
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
  @ApiProduces('text/csv', 'application/json')
  @ApiOkResponse({ type: UsageExportDto, description: 'JSON; as CSV the same rows with a header row' })
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
