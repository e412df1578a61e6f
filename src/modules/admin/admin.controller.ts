import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiExtraModels,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import { AdminOnly } from '../../common/auth/auth.decorators.js';
import { ApiProblems } from '../../common/http/api-problems.decorator.js';
import { UuidParam } from '../../common/http/validation.js';
import { PageQueryDto, pageSchema, wholeList, wholeListSchema, type Page } from '../../common/pagination/pagination.js';
import { AuthService } from '../auth/auth.service.js';
import {
  ApiKeyResponseDto,
  CreateApiKeyDto,
  CreatedApiKeyResponseDto,
  toApiKeyResponse,
} from '../auth/dto/api-key.dto.js';
import { CreateUserDto, UpdateUserDto, UserResponseDto } from '../auth/dto/user.dto.js';
import { UsersService } from '../auth/users.service.js';

@ApiTags('Admin')
@AdminOnly()
@ApiExtraModels(UserResponseDto, ApiKeyResponseDto)
@Controller('admin')
export class AdminController {
  constructor(
    private readonly users: UsersService,
    private readonly auth: AuthService,
  ) {}

  @Post('users')
  @ApiOperation({ operationId: 'createUser', summary: 'Create a user' })
  @ApiCreatedResponse({ type: UserResponseDto })
  @ApiProblems(400, 409, 422)
  createUser(@Body() dto: CreateUserDto): Promise<UserResponseDto> {
    return this.users.create(dto);
  }

  @Get('users')
  @ApiOperation({ operationId: 'listUsers', summary: 'List users, newest first' })
  @ApiOkResponse({ schema: pageSchema(getSchemaPath(UserResponseDto)) })
  @ApiProblems('INVALID_CURSOR', 422)
  listUsers(@Query() query: PageQueryDto): Promise<Page<UserResponseDto>> {
    return this.users.list(query.limit, query.cursor);
  }

  @Patch('users/:id')
  @ApiOperation({ operationId: 'updateUser', summary: 'Change a user’s tier, role or name' })
  @ApiOkResponse({ type: UserResponseDto })
  @ApiProblems(400, 404, 409, 422)
  updateUser(@Param('id', UuidParam) id: string, @Body() dto: UpdateUserDto): Promise<UserResponseDto> {
    return this.users.update(id, dto);
  }

  @Post('users/:id/api-keys')
  @ApiOperation({ operationId: 'createUserApiKey', summary: 'Create an API key for a user; the key is shown once' })
  @ApiCreatedResponse({ type: CreatedApiKeyResponseDto })
  @ApiProblems(400, 404, 422)
  async createUserApiKey(
    @Param('id', UuidParam) id: string,
    @Body() dto: CreateApiKeyDto,
  ): Promise<CreatedApiKeyResponseDto> {
    await this.users.assertExists(id);
    const { row, key } = await this.auth.issueKey(id, dto.name ?? null);
    return { ...toApiKeyResponse(row), key };
  }

  @Get('users/:id/api-keys')
  @ApiOperation({ operationId: 'listUserApiKeys', summary: 'List a user’s API keys (never the keys themselves)' })
  @ApiOkResponse({ schema: wholeListSchema(getSchemaPath(ApiKeyResponseDto)) })
  @ApiProblems(400, 404)
  async listUserApiKeys(@Param('id', UuidParam) id: string): Promise<Page<ApiKeyResponseDto>> {
    await this.users.assertExists(id);
    return wholeList((await this.auth.listKeys(id)).map(toApiKeyResponse));
  }

  @Delete('api-keys/:id')
  @HttpCode(204)
  @ApiOperation({ operationId: 'revokeApiKey', summary: 'Revoke any API key; it stops working at once' })
  @ApiNoContentResponse({ description: 'Revoked' })
  @ApiProblems(400, 404, 409)
  async revokeApiKey(@Param('id', UuidParam) id: string): Promise<void> {
    await this.auth.revokeAnyKey(id);
  }
}
