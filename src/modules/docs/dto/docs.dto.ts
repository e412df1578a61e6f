import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ERROR_CATALOG } from '../../../common/errors/error-catalog.js';
import { ApiJsonValueProperty } from '../../../common/http/api-json-value.decorator.js';

const FREE_FORM = { type: 'object', additionalProperties: true } as const;

export class OperationSummaryDto {
  @ApiProperty({ example: 'createJob', description: 'The operationId: GET /docs/endpoints/{name} takes it' })
  name: string;

  @ApiProperty({ example: 'POST' })
  method: string;

  @ApiProperty({ example: '/api/v1/jobs' })
  path: string;

  @ApiProperty({ example: 'Submit a job' })
  summary: string;
}

export class SectionDto {
  @ApiProperty({ example: 'Jobs', description: 'An OpenAPI tag' })
  name: string;

  @ApiPropertyOptional()
  description?: string;

  @ApiProperty({ type: [OperationSummaryDto] })
  operations: OperationSummaryDto[];
}

export class ServerDto {
  @ApiProperty({ example: 'https://conveyor.example.com' })
  url: string;

  @ApiPropertyOptional()
  description?: string;
}

export class AuthenticationDto {
  @ApiProperty({ example: 'http' })
  type: string;

  @ApiProperty({ example: 'bearer' })
  scheme: string;

  @ApiProperty({ example: 'Authorization: Bearer <api key>' })
  header: string;

  @ApiProperty()
  description: string;
}

export class TierLimitsDto {
  @ApiProperty({ enum: ['free', 'pro', 'enterprise'] })
  tier: string;

  @ApiProperty({ description: 'Requests per minute per user' })
  requestsPerMinute: number;

  @ApiProperty({ description: 'Credits per calendar month (UTC)' })
  monthlyCredits: number;

  @ApiProperty({ description: 'Items one batch may hold' })
  maxBatchItems: number;

  @ApiProperty({ description: 'Jobs of one user running at once, across all workers' })
  maxRunningJobs: number;
}

export class ErrorFormatDto {
  @ApiProperty({ example: 'application/problem+json' })
  contentType: string;

  @ApiProperty({ example: ['type', 'title', 'status', 'detail', 'code', 'requestId', 'errors'] })
  fields: string[];

  @ApiProperty({ example: '/api/v1/docs/errors', description: 'The catalog of `code` values' })
  catalog: string;
}

export class DocsLinksDto {
  @ApiProperty({ example: '/docs' })
  swaggerUi: string;

  @ApiProperty({ example: '/docs-json' })
  openApiJson: string;

  @ApiProperty({ example: '/api/v1/docs/endpoints/{name}' })
  endpoint: string;

  @ApiProperty({ example: '/api/v1/docs/errors' })
  errors: string;
}

export class ApiOverviewDto {
  @ApiProperty({ example: 'Conveyor API' })
  title: string;

  @ApiProperty({ example: '0.1.0' })
  version: string;

  @ApiProperty()
  description: string;

  @ApiProperty({ type: [ServerDto], description: 'Empty: use the address you reached this server on' })
  servers: ServerDto[];

  @ApiProperty({ type: AuthenticationDto })
  authentication: AuthenticationDto;

  @ApiProperty({ type: [TierLimitsDto], description: "This deployment's limits, by tier" })
  tiers: TierLimitsDto[];

  @ApiProperty({ type: [SectionDto], description: 'Every operation, grouped by tag' })
  sections: SectionDto[];

  @ApiProperty({ type: ErrorFormatDto })
  errorFormat: ErrorFormatDto;

  @ApiProperty({ type: DocsLinksDto })
  links: DocsLinksDto;
}

export class ParameterDocDto {
  @ApiProperty({ example: 'id' })
  name: string;

  @ApiProperty({ enum: ['path', 'query', 'header', 'cookie'] })
  in: string;

  @ApiProperty()
  required: boolean;

  @ApiPropertyOptional()
  description?: string;

  @ApiProperty({ ...FREE_FORM, description: 'JSON Schema, references resolved' })
  schema: Record<string, unknown>;

  @ApiProperty({ description: 'The value the code samples use' })
  example: string;
}

export class RequestBodyDocDto {
  @ApiProperty({ example: ['application/json'] })
  contentTypes: string[];

  @ApiProperty()
  required: boolean;

  @ApiProperty({ ...FREE_FORM, description: 'JSON Schema of the JSON body, references resolved' })
  schema: Record<string, unknown>;

  @ApiJsonValueProperty({ description: 'The body the code samples send', example: { type: 'hash' } })
  example: unknown;
}

export class ResponseDocDto {
  @ApiProperty({ example: '201' })
  status: string;

  @ApiProperty()
  description: string;

  @ApiPropertyOptional({ example: 'application/json' })
  contentType?: string;

  @ApiPropertyOptional({ ...FREE_FORM, description: 'JSON Schema, references resolved' })
  schema?: Record<string, unknown>;

  @ApiJsonValueProperty({ required: false })
  example?: unknown;
}

export class OperationErrorDto {
  @ApiProperty({ example: 404 })
  status: number;

  @ApiProperty({ enum: Object.keys(ERROR_CATALOG), example: 'NOT_FOUND' })
  code: string;

  @ApiProperty({ example: 'Not found' })
  title: string;

  @ApiProperty({ example: 'https://conveyor.dev/problems/not-found' })
  type: string;
}

export class CodeSampleDto {
  @ApiProperty({ example: 'Shell', description: 'The language, as syntax highlighters name it' })
  lang: string;

  @ApiProperty({
    example: 'cURL',
    enum: ['cURL', 'Python', 'JavaScript', 'Node.js', 'Go', 'Java', 'Ruby', 'PHP', 'C#'],
  })
  label: string;

  @ApiProperty({ example: 'curl --request GET \\\n  --url https://conveyor.example.com/api/v1/me' })
  source: string;
}

export class EndpointDocDto {
  @ApiProperty({ example: 'createJob' })
  name: string;

  @ApiProperty({ example: 'POST' })
  method: string;

  @ApiProperty({ example: '/api/v1/jobs' })
  path: string;

  @ApiProperty({ example: ['Jobs'] })
  tags: string[];

  @ApiProperty({ example: 'Submit a job' })
  summary: string;

  @ApiPropertyOptional()
  description?: string;

  @ApiProperty({
    type: 'array',
    items: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
    example: [{ bearer: [] }],
    description: 'OpenAPI security requirements; empty: no key needed',
  })
  security: Array<Record<string, string[]>>;

  @ApiProperty({ type: [ParameterDocDto] })
  parameters: ParameterDocDto[];

  @ApiProperty({ type: RequestBodyDocDto, nullable: true })
  requestBody: RequestBodyDocDto | null;

  @ApiProperty({ type: [ResponseDocDto] })
  responses: ResponseDocDto[];

  @ApiProperty({ type: [OperationErrorDto], description: 'The error codes this operation documents' })
  errors: OperationErrorDto[];

  @ApiProperty({ type: [CodeSampleDto], description: 'Nine languages, generated from the operation by httpsnippet' })
  codeSamples: CodeSampleDto[];
}

export class ErrorCodeDto {
  @ApiProperty({ enum: Object.keys(ERROR_CATALOG), example: 'VALIDATION_FAILED' })
  code: string;

  @ApiProperty({ example: 422 })
  status: number;

  @ApiProperty({ example: 'Validation failed' })
  title: string;

  @ApiProperty({ example: 'The request is well-formed but some fields are invalid.' })
  meaning: string;

  @ApiProperty({ example: 'Fix each field listed in `errors` and send the request again.', description: 'What to do' })
  action: string;

  @ApiProperty({
    example: 'https://conveyor.dev/problems/validation-failed',
    description: 'The `type` of its problem documents',
  })
  type: string;
}
