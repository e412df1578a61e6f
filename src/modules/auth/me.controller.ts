import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
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
import { wholeList, wholeListSchema, type Page } from '../../common/pagination/pagination.js';
import { ApiKeyResponseDto, CreateApiKeyDto, CreatedApiKeyResponseDto, toApiKeyResponse } from './dto/api-key.dto.js';
import { UserResponseDto } from './dto/user.dto.js';
import { AuthService } from './auth.service.js';
import { UsersService } from './users.service.js';

/** The caller's own account and keys: self-service key rotation without an admin. */
@ApiTags('Account')
@Authenticated()
@ApiExtraModels(ApiKeyResponseDto)
@Controller('me')
export class MeController {
  constructor(
    private readonly users: UsersService,
    private readonly auth: AuthService,
  ) {}

  @Get()
  @ApiOperation({ operationId: 'getMe', summary: 'The authenticated user' })
  @ApiOkResponse({ type: UserResponseDto })
  getMe(@CurrentUser() me: Principal): Promise<UserResponseDto> {
    return this.users.get(me.userId);
  }

  @Get('api-keys')
  @ApiOperation({ operationId: 'listMyApiKeys', summary: 'List your API keys (never the keys themselves)' })
  @ApiOkResponse({ schema: wholeListSchema(getSchemaPath(ApiKeyResponseDto)) })
  async listMyApiKeys(@CurrentUser() me: Principal): Promise<Page<ApiKeyResponseDto>> {
    return wholeList((await this.auth.listKeys(me.userId)).map(toApiKeyResponse));
  }

  @Post('api-keys')
  @ApiOperation({ operationId: 'createMyApiKey', summary: 'Create an API key; the key is shown once' })
  @ApiCreatedResponse({ type: CreatedApiKeyResponseDto })
  @ApiProblems(400, 422)
  async createMyApiKey(@CurrentUser() me: Principal, @Body() dto: CreateApiKeyDto): Promise<CreatedApiKeyResponseDto> {
    const { row, key } = await this.auth.issueKey(me.userId, dto.name ?? null);
    return { ...toApiKeyResponse(row), key };
  }

  @Delete('api-keys/:id')
  @HttpCode(204)
  @ApiOperation({ operationId: 'revokeMyApiKey', summary: 'Revoke one of your API keys; it stops working at once' })
  @ApiNoContentResponse({ description: 'Revoked' })
  @ApiProblems(400, 404, 409)
  async revokeMyApiKey(@CurrentUser() me: Principal, @Param('id', UuidParam) id: string): Promise<void> {
    await this.auth.revokeKey(me.userId, id);
  }
}
