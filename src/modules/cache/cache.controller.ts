import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import { AdminOnly } from '../../common/auth/auth.decorators.js';
import { ApiProblems } from '../../common/http/api-problems.decorator.js';
import { CacheKeyParam } from './cache-key.pipe.js';
import { CacheAdminService } from './cache-admin.service.js';
import {
  CacheEntryDto,
  CacheHealthDto,
  CacheStatsDto,
  DeleteCachePrefixQueryDto,
  DeletedCountDto,
  SetCacheEntryDto,
} from './dto/cache.dto.js';

const KEY_PARAM = { name: 'key', description: '1–100 characters of A–Z, a–z, 0–9, ":", ".", "_", "-"' };

@ApiTags('Cache')
@AdminOnly()
@Controller('cache')
export class CacheController {
  constructor(private readonly cache: CacheAdminService) {}

  @Get('health')
  @ApiOperation({ operationId: 'getCacheHealth', summary: 'The cache store and whether it answers' })
  @ApiOkResponse({ type: CacheHealthDto })
  health(): Promise<CacheHealthDto> {
    return this.cache.health();
  }

  @Get('stats')
  @ApiOperation({
    operationId: 'getCacheStats',
    summary: 'Hits, misses, hit rate and errors of this instance since it started',
  })
  @ApiOkResponse({ type: CacheStatsDto })
  stats(): CacheStatsDto {
    return this.cache.stats();
  }

  @Get(':key')
  @ApiOperation({ operationId: 'getCacheEntry', summary: 'Read one cache entry' })
  @ApiParam(KEY_PARAM)
  @ApiOkResponse({ type: CacheEntryDto })
  @ApiProblems(400, 404, 503)
  get(@Param('key', CacheKeyParam) key: string): Promise<CacheEntryDto> {
    return this.cache.get(key);
  }

  @Post(':key')
  @ApiOperation({ operationId: 'setCacheEntry', summary: 'Write one cache entry (default TTL 300 s)' })
  @ApiParam(KEY_PARAM)
  @ApiCreatedResponse({ type: CacheEntryDto })
  @ApiProblems(400, 413, 422, 503)
  set(@Param('key', CacheKeyParam) key: string, @Body() dto: SetCacheEntryDto): Promise<CacheEntryDto> {
    return this.cache.set(key, dto.value, dto.ttlSeconds ?? 300);
  }

  @Delete(':key')
  @HttpCode(204)
  @ApiOperation({ operationId: 'deleteCacheEntry', summary: 'Delete one cache entry' })
  @ApiParam(KEY_PARAM)
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiProblems(400, 404, 503)
  delete(@Param('key', CacheKeyParam) key: string): Promise<void> {
    return this.cache.delete(key);
  }

  @Delete()
  @ApiOperation({
    operationId: 'deleteCacheByPrefix',
    summary: 'Delete every cache entry whose key starts with `prefix`',
  })
  @ApiOkResponse({ type: DeletedCountDto })
  @ApiProblems(422, 503)
  deleteByPrefix(@Query() query: DeleteCachePrefixQueryDto): Promise<DeletedCountDto> {
    return this.cache.deletePrefix(query.prefix);
  }
}
