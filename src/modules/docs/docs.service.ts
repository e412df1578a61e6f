import { Injectable } from '@nestjs/common';
import type {
  OpenAPIObject,
  OperationObject,
  ParameterObject,
  RequestBodyObject,
  ResponseObject,
  SecuritySchemeObject,
} from '@nestjs/swagger';
import { DomainError } from '../../common/errors/domain-error.js';
import { codeForStatus, ERROR_CATALOG, problemType, type ErrorCode } from '../../common/errors/error-catalog.js';
import { AppConfig } from '../../config/config.js';
import { codeSamples } from './code-samples.js';
import type {
  ApiOverviewDto,
  EndpointDocDto,
  ErrorCodeDto,
  OperationErrorDto,
  ParameterDocDto,
  ResponseDocDto,
} from './dto/docs.dto.js';
import { closest } from './edit-distance.js';
import { parameterExample, requestBodyExample, resolve } from './examples.js';

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;
const TIERS = ['free', 'pro', 'enterprise'] as const;
/** `$ref`s nested deeper than this stay references (a recursive schema must end). */
const MAX_INLINE_DEPTH = 8;

interface IndexedOperation {
  method: string;
  path: string;
  operation: OperationObject;
}

/** `{description}` when there is one: absent members rather than empty ones. */
function pick(description: string | undefined): { description?: string } {
  return description ? { description } : {};
}

/** 404 for a name that is no operationId, with the closest ones in `suggestions`. */
export class UnknownOperationError extends DomainError {
  constructor(name: string, suggestions: string[]) {
    super(
      'NOT_FOUND',
      `No operation is named "${name}"; names are operationIds, listed by GET /api/v1/docs/api/overview`,
      {
        extensions: { suggestions },
      },
    );
  }
}

/**
 * The docs endpoints' answers, read from the OpenAPI document (built once at start-up by the same
 * buildOpenApiDocument Swagger serves, see createApp) and the error catalog: nothing here is
 * written by hand a second time.
 */
@Injectable()
export class DocsService {
  private document: OpenAPIObject | undefined;
  /** Lower-cased operationId → the operation: names match case-insensitively. */
  private readonly operations = new Map<string, IndexedOperation>();
  private overview: ApiOverviewDto | undefined;

  constructor(private readonly config: AppConfig) {}

  /** Takes the application's OpenAPI document; called once the app is initialised. */
  load(document: OpenAPIObject): void {
    this.document = document;
    this.operations.clear();
    for (const [path, item] of Object.entries(document.paths)) {
      for (const method of METHODS) {
        const operation = item[method];
        if (operation?.operationId)
          this.operations.set(operation.operationId.toLowerCase(), { method, path, operation });
      }
    }
    this.overview = undefined;
  }

  /** The document given to load(), with its `x-codeSamples`. */
  openApiDocument(): OpenAPIObject {
    return this.loaded();
  }

  /** The document given to load(), or undefined before (Swagger UI then builds its own). */
  loadedDocument(): OpenAPIObject | undefined {
    return this.document;
  }

  getOverview(): ApiOverviewDto {
    return (this.overview ??= this.buildOverview(this.loaded()));
  }

  /** One operation by operationId (any case), with samples that call `baseUrl`. */
  getEndpoint(name: string, baseUrl: string): EndpointDocDto {
    const document = this.loaded();
    const found = this.operations.get(name.toLowerCase());
    if (!found) {
      const names = [...this.operations.values()].map(({ operation }) => operation.operationId!);
      throw new UnknownOperationError(name, closest(name, names, 3));
    }
    const { method, path, operation } = found;
    const parameters = (operation.parameters ?? [])
      .map((parameter) => resolve<ParameterObject>(document, parameter))
      .filter((parameter): parameter is ParameterObject => parameter !== undefined)
      .map((parameter): ParameterDocDto => ({
        name: parameter.name,
        in: parameter.in,
        required: parameter.required ?? false,
        ...pick(parameter.description),
        schema: this.inline(document, parameter.schema ?? {}),
        example: parameterExample(document, parameter),
      }));
    const body = resolve<RequestBodyObject>(document, operation.requestBody);
    const bodyExample = requestBodyExample(document, operation);
    return {
      name: operation.operationId!,
      method: method.toUpperCase(),
      path,
      tags: operation.tags ?? [],
      summary: operation.summary ?? '',
      ...pick(operation.description),
      security: (operation.security ?? []) as Array<Record<string, string[]>>,
      parameters,
      requestBody: body
        ? {
            contentTypes: Object.keys(body.content),
            required: body.required ?? false,
            schema: this.inline(document, body.content['application/json']?.schema ?? {}),
            example: bodyExample?.example ?? null,
          }
        : null,
      responses: this.responses(document, operation),
      errors: this.errors(document, operation),
      codeSamples: codeSamples(document, method, path, operation, baseUrl),
    };
  }

  /** The error catalog, in its order. */
  listErrors(): ErrorCodeDto[] {
    return Object.entries(ERROR_CATALOG).map(([code, entry]) => ({
      code,
      status: entry.status,
      title: entry.title,
      meaning: entry.meaning,
      action: entry.action,
      type: problemType(code as ErrorCode),
    }));
  }

  private loaded(): OpenAPIObject {
    if (!this.document) throw new DomainError('SERVICE_UNAVAILABLE', 'The API description is not built yet');
    return this.document;
  }

  private buildOverview(document: OpenAPIObject): ApiOverviewDto {
    const tagNames = [
      ...new Set([
        ...(document.tags ?? []).map((tag) => tag.name),
        ...[...this.operations.values()].flatMap(({ operation }) => operation.tags ?? ['default']),
      ]),
    ];
    const sections = tagNames.map((name) => ({
      name,
      ...pick(document.tags?.find((tag) => tag.name === name)?.description),
      operations: [...this.operations.values()]
        .filter(({ operation }) => (operation.tags ?? ['default']).includes(name))
        .map(({ method, path, operation }) => ({
          name: operation.operationId!,
          method: method.toUpperCase(),
          path,
          summary: operation.summary ?? '',
        })),
    }));
    const scheme = Object.values(document.components?.securitySchemes ?? {})[0] as SecuritySchemeObject | undefined;
    const { rateLimit, credits, batches, fairness } = this.config;
    return {
      title: document.info.title,
      version: document.info.version,
      description: document.info.description ?? '',
      servers: document.servers ?? [],
      authentication: {
        type: scheme?.type ?? 'http',
        scheme: scheme?.scheme ?? 'bearer',
        header: 'Authorization: Bearer <api key>',
        description:
          'Every operation except the health probes needs an API key. A missing or revoked key is 401; ' +
          'a key whose user lacks the role is 403.',
      },
      tiers: TIERS.map((tier) => ({
        tier,
        requestsPerMinute: rateLimit.perMinute[tier],
        monthlyCredits: credits[tier],
        maxBatchItems: batches.maxItems[tier],
        maxRunningJobs: fairness.maxRunning[tier],
      })),
      sections: sections.filter((section) => section.operations.length > 0),
      errorFormat: {
        contentType: 'application/problem+json',
        fields: ['type', 'title', 'status', 'detail', 'code', 'requestId', 'instance', 'errors'],
        catalog: '/api/v1/docs/errors',
      },
      links: {
        swaggerUi: '/docs',
        openApiJson: '/docs-json',
        endpoint: '/api/v1/docs/endpoints/{name}',
        errors: '/api/v1/docs/errors',
      },
    };
  }

  private responses(document: OpenAPIObject, operation: OperationObject): ResponseDocDto[] {
    return Object.entries(operation.responses).flatMap(([status, value]) => {
      const response = resolve<ResponseObject>(document, value);
      if (!response) return [];
      const [contentType, media] = Object.entries(response.content ?? {})[0] ?? [];
      return [
        {
          status,
          description: response.description,
          ...(contentType ? { contentType } : {}),
          ...(media?.schema ? { schema: this.inline(document, media.schema) } : {}),
          ...(media?.example !== undefined ? { example: media.example } : {}),
        },
      ];
    });
  }

  /** The codes an operation's error responses name (ApiProblems writes "`CODE`: meaning"), else the status's code. */
  private errors(document: OpenAPIObject, operation: OperationObject): OperationErrorDto[] {
    return Object.entries(operation.responses).flatMap(([status, value]) => {
      const numeric = Number(status);
      if (!(numeric >= 400)) return [];
      const description = resolve<ResponseObject>(document, value)?.description ?? '';
      const named = [...description.matchAll(/`([A-Z_]+)`/g)]
        .map((match) => match[1])
        .filter((code): code is ErrorCode => code in ERROR_CATALOG);
      const codes = named.length ? [...new Set(named)] : [codeForStatus(numeric)];
      return codes.map((code) => ({
        status: numeric,
        code,
        title: ERROR_CATALOG[code].title,
        type: problemType(code),
      }));
    });
  }

  /** A schema with its `$ref`s replaced by what they point to, so a reader needs nothing else. */
  private inline(document: OpenAPIObject, schema: unknown): Record<string, unknown> {
    const walk = (value: unknown, level: number): unknown => {
      if (Array.isArray(value)) return value.map((item) => walk(item, level));
      if (typeof value !== 'object' || value === null) return value;
      if ('$ref' in value && level < MAX_INLINE_DEPTH) return walk(resolve(document, value), level + 1);
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, walk(item, level)]));
    };
    return walk(schema, 0) as Record<string, unknown>;
  }
}
