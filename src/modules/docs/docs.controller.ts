import { Controller, Get, Param, Req } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { Authenticated } from '../../common/auth/auth.decorators.js';
import { CachedEndpoint } from '../../common/cache/cached-endpoint.decorator.js';
import { ApiProblems } from '../../common/http/api-problems.decorator.js';
import { APP_VERSION } from '../../config/config.js';
import { DEFAULT_BASE_URL } from './code-samples.js';
import { DocsService } from './docs.service.js';
import { ApiOverviewDto, EndpointDocDto, ErrorCodeDto } from './dto/docs.dto.js';
import { NotRateLimited } from '../rate-limit/rate-cost.decorator.js';

const HOST = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

function firstValue(header: string | string[] | undefined): string | undefined {
  return (Array.isArray(header) ? header[0] : header)?.split(',')[0].trim();
}

/**
 * The address the caller reached this server on, for the samples: behind a proxy its
 * X-Forwarded-Proto/Host (they only shape the caller's own samples), else the request's.
 * Anything that is not a plain host falls back to the default local address.
 */
export function requestOrigin(request: FastifyRequest): string {
  const proto = firstValue(request.headers['x-forwarded-proto']) ?? request.protocol;
  const host = firstValue(request.headers['x-forwarded-host']) ?? request.host;
  return (proto === 'http' || proto === 'https') && host && HOST.test(host) ? `${proto}://${host}` : DEFAULT_BASE_URL;
}

/** How many caller addresses a process keeps cached samples for (see cachedOrigin). */
const CACHED_ORIGINS = 16;
const cachedOrigins = new Set<string>();

/**
 * The cache variant of a docs endpoint request: its origin, for the first CACHED_ORIGINS origins
 * this process is asked on (a deployment has a handful: its public URL, an internal one, a
 * port-forward); any other origin is answered uncached. The origin comes from the Host and
 * X-Forwarded-* headers, which a client chooses: without the bound, a client could make the cache
 * store a ~50 KB copy per made-up host name.
 */
export function cachedOrigin(request: FastifyRequest): string | undefined {
  const origin = requestOrigin(request);
  if (cachedOrigins.has(origin)) return origin;
  if (cachedOrigins.size >= CACHED_ORIGINS) return undefined;
  cachedOrigins.add(origin);
  return origin;
}

/**
 * API documentation as data, built from the OpenAPI document Swagger serves. Authenticated like
 * the rest of the API, so the answers are cached per user (the Swagger UI and JSON stay public);
 * not rate-limited, like the rest of the docs: reading how to call the API must work when a
 * client is over its limit (issue 11), and the answers come from memory. Cache keys carry the version: during a rolling update an instance never
 * serves another version's description from Redis.
 */
@ApiTags('Docs')
@Authenticated()
@NotRateLimited()
@Controller('docs')
export class DocsController {
  constructor(private readonly docs: DocsService) {}

  @Get('api/overview')
  @CachedEndpoint({ ttl: 300, keyPrefix: `docs-overview:${APP_VERSION}` })
  @ApiOperation({
    operationId: 'getApiOverview',
    summary: 'The API at a glance: auth, tier limits, error format, and every operation by section',
  })
  @ApiOkResponse({ type: ApiOverviewDto })
  getApiOverview(): ApiOverviewDto {
    return this.docs.getOverview();
  }

  @Get('endpoints/:name')
  // The samples name the caller's address: one entry per address (a proxy's and the direct one differ).
  @CachedEndpoint({ ttl: 300, keyPrefix: `docs-endpoint:${APP_VERSION}`, vary: cachedOrigin })
  @ApiOperation({
    operationId: 'getEndpointDocs',
    summary: 'One operation: parameters, schemas, examples, errors and code samples in nine languages',
    description:
      'Names are operationIds, matched case-insensitively. The samples call the address this request was sent to. ' +
      'An unknown name is 404 with the closest names in `suggestions`.',
  })
  @ApiParam({ name: 'name', description: 'An operationId (any case)', example: 'createJob' })
  @ApiOkResponse({ type: EndpointDocDto })
  @ApiProblems(404)
  getEndpointDocs(@Param('name') name: string, @Req() request: FastifyRequest): EndpointDocDto {
    return this.docs.getEndpoint(name, requestOrigin(request));
  }

  @Get('errors')
  @CachedEndpoint({ ttl: 300, keyPrefix: `docs-errors:${APP_VERSION}` })
  @ApiOperation({
    operationId: 'listErrorCodes',
    summary: 'The error-code catalog: code, HTTP status, meaning, what to do',
  })
  @ApiOkResponse({ type: [ErrorCodeDto] })
  listErrorCodes(): ErrorCodeDto[] {
    return this.docs.listErrors();
  }
}
