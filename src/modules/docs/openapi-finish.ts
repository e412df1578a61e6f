import type { OpenAPIObject } from '@nestjs/swagger';
import { ANY_JSON } from '../../common/http/api-json-value.decorator.js';
import { ERROR_CATALOG, problemType, type ErrorCode } from '../../common/errors/error-catalog.js';
import { NOT_RATE_LIMITED_EXTENSION } from '../rate-limit/rate-cost.decorator.js';

/*
 * What @nestjs/swagger cannot say through its decorators, applied to the generated document in one
 * place so that every operation gets it alike:
 * - OpenAPI 3.1: Nest writes 3.0's `nullable`, which does not reach a `$ref`/`allOf` member (an
 *   `"error": null` violated the document); 3.1's `type: [T, "null"]` and `oneOf [$ref, null]` do.
 * - Request bodies are closed (`additionalProperties: false`: unknown fields are a 422), and a
 *   request field's `default` is stated in its description: openapi-typescript makes a property
 *   with a `default` required in the types it generates, which is wrong for a request.
 * - The problem responses every operation can give (429, 500, 503; 400/413/415/422 with a body),
 *   response headers, `security: []` on public operations, `format: uuid` on id parameters,
 *   descriptions and an example on every success response and request body.
 */

// The document is walked as plain JSON (Nest's OpenAPI types are a union per node, and 3.1's
// shapes are not in them); each rewrite checks the shape it needs at run time.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

const SCHEMAS = '#/components/schemas/';
const PROBLEM_REF = `${SCHEMAS}ProblemDto`;

/** Path parameters that UuidParam checks (400 otherwise). */
const UUID_PATH_PARAMETERS = new Set(['id', 'deliveryId']);

/**
 * Problem statuses any operation may answer, with the codes they carry. NOT_FOUND: a ROLE=worker
 * instance serves only the health probes.
 */
const EVERY_OPERATION: ErrorCode[] = ['NOT_FOUND', 'INTERNAL', 'SERVICE_UNAVAILABLE'];
/** …and any operation that reads a body: malformed JSON, too large, wrong type, invalid fields. */
const WITH_BODY: ErrorCode[] = ['BAD_REQUEST', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'VALIDATION_FAILED'];
/** …and any operation with a path parameter: a value longer than any identifier (100 characters). */
const WITH_PATH_PARAMETER: ErrorCode[] = ['URI_TOO_LONG'];

const HEADERS: Json = {
  'X-Request-Id': {
    description: 'The request id (the one the client sent, else a new UUID); also `requestId` of a problem',
    required: true,
    schema: { type: 'string', example: '3f1c2a9e-5b7d-4c1e-9a8f-2d6b0e4c7a11' },
  },
  RateLimit: {
    description: 'IETF draft: the caller’s remaining requests (`r`) and seconds until the window resets (`t`)',
    schema: { type: 'string', example: '"free";r=59;t=60' },
  },
  'RateLimit-Policy': {
    description: 'IETF draft: the tier’s quota (`q`) per window of `w` seconds',
    schema: { type: 'string', example: '"free";q=60;w=60' },
  },
  'Retry-After': {
    description: 'Seconds to wait before sending the request again',
    schema: { type: 'string', example: '12' },
  },
  'Idempotent-Replayed': {
    description: '`true` when the job is the one an earlier request with the same Idempotency-Key created',
    schema: { type: 'string', enum: ['true'] },
  },
};

const TAGS: Array<[string, string]> = [
  ['Jobs', 'Submit single jobs, follow them and read their results; the job type catalog'],
  ['Batches', 'Many jobs in one request (JSON or NDJSON), their progress, and a streamed download of every result'],
  ['Pipelines', 'Steps run in order, each fed the previous step’s output; runs of a pipeline'],
  ['Webhooks', 'Signed (Standard Webhooks) event deliveries: endpoints, deliveries, retries, replays, recovery'],
  ['Usage', 'Credits used and left per month, billing export'],
  ['Account', 'The caller’s own user and API keys'],
  ['Admin', 'Users, tiers, roles and API keys (admin role)'],
  ['Cache', 'The response cache: health, statistics, entries (admin role)'],
  ['Health', 'Kubernetes probes (public) and the operators’ detailed view (admin role)'],
  ['Docs', 'The API overview, one operation with code samples, and the error catalog'],
];

export const DOCUMENT_TAGS: ReadonlyArray<readonly [string, string]> = TAGS;

const EXAMPLE_UUID = '0b5c2f0e-8d1a-4c55-9a43-2f6f1b7f0c11';
const EXAMPLE_TIME = '2026-11-28T12:00:00.000Z';

const SUCCESS_DESCRIPTIONS: Record<string, string> = {
  '200': 'OK',
  '201': 'Created',
  '202': 'Accepted: the work is queued',
  '204': 'Done; no content',
};

/** Rewrites the whole document in place; returns it. */
export function finishDocument(document: OpenAPIObject): OpenAPIObject {
  const doc = document as unknown as Json;
  doc.openapi = '3.1.0';
  walkSchemas(doc, toOpenApi31);
  const schemas: Json = doc.components.schemas;
  doc.components.headers = { ...HEADERS };
  closeRequestSchemas(doc, schemas);

  for (const [path, methods] of Object.entries<Json>(doc.paths)) {
    for (const [method, operation] of Object.entries<Json>(methods)) {
      finishOperation(path, method, operation, schemas);
    }
  }
  const used = new Set(Object.values<Json>(doc.paths).flatMap((m) => Object.values<Json>(m).flatMap((o) => o.tags)));
  doc.tags = TAGS.filter(([name]) => used.has(name)).map(([name, description]) => ({ name, description }));
  for (const name of used) {
    if (!doc.tags.some((t: Json) => t.name === name)) doc.tags.push({ name, description: name });
  }
  return document;
}

/** What the description of an authenticated operation that is never rate-limited says. */
const NOT_LIMITED = 'Not counted against the rate limit.';

function finishOperation(path: string, method: string, operation: Json, schemas: Json): void {
  const isPublic = !operation.security || operation.security.length === 0;
  if (isPublic) operation.security = [];
  // @NotRateLimited(): authenticated but never counted, so no 429 and no rate-limit headers.
  const limited = !isPublic && operation[NOT_RATE_LIMITED_EXTENSION] !== true;
  delete operation[NOT_RATE_LIMITED_EXTENSION];
  if (!limited) delete operation.responses['429'];
  const pathParameters = (operation.parameters ?? []).filter((p: Json) => p.in === 'path');
  for (const parameter of pathParameters) {
    if (UUID_PATH_PARAMETERS.has(parameter.name)) parameter.schema = { type: 'string', format: 'uuid' };
  }
  const problems: ErrorCode[] = [...EVERY_OPERATION];
  if (operation.requestBody) problems.push(...WITH_BODY);
  if (pathParameters.length > 0) problems.push(...WITH_PATH_PARAMETER);
  for (const code of problems) {
    const status = String(ERROR_CATALOG[code].status);
    operation.responses[status] ??= problemResponse(code);
  }

  for (const [status, response] of Object.entries<Json>(operation.responses)) {
    const success = status.startsWith('2');
    if (!response.description) response.description = SUCCESS_DESCRIPTIONS[status] ?? 'Response';
    response.headers = {
      ...response.headers,
      'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' },
      // The limiter runs after authentication: a 401 has no rate-limit headers.
      ...(!limited || status === '401'
        ? {}
        : {
            RateLimit: { $ref: '#/components/headers/RateLimit' },
            'RateLimit-Policy': { $ref: '#/components/headers/RateLimit-Policy' },
          }),
      ...(status === '429' || status === '503' ? { 'Retry-After': { $ref: '#/components/headers/Retry-After' } } : {}),
      ...(success && path.endsWith('/jobs') && method === 'post'
        ? { 'Idempotent-Replayed': { $ref: '#/components/headers/Idempotent-Replayed' } }
        : {}),
    };
    if (!success) continue;
    for (const media of Object.values<Json>(response.content ?? {})) {
      if (media.example === undefined && media.examples === undefined) media.example = exampleOf(media.schema, schemas);
    }
  }
  const ndjson = operation.requestBody?.content?.['application/x-ndjson'];
  if (ndjson) ndjsonBody(ndjson, operation.requestBody.content['application/json'], schemas);
  for (const media of Object.values<Json>(operation.requestBody?.content ?? {})) {
    if (media.example === undefined && media.examples === undefined) {
      media.example = exampleOf(media.schema, schemas, { request: true });
    }
  }
  operation.description ??= describe(operation, isPublic, limited);
  if (!isPublic && !limited && !operation.description.includes(NOT_LIMITED)) {
    operation.description = `${operation.description.trimEnd()}\n\n${NOT_LIMITED}`;
  }
}

/**
 * An NDJSON body (POST /batches) is text: one line per element of the JSON body's `items`. Nest
 * gives every consumed media type the same (JSON) schema.
 */
function ndjsonBody(ndjson: Json, json: Json | undefined, schemas: Json): void {
  const items = json ? (exampleOf(json.schema, schemas, { request: true }) as Json)?.items : undefined;
  ndjson.schema = {
    type: 'string',
    description:
      'One JSON object per line, each an element of `items` of the JSON body: `{customId?, type, input, metadata?}`; blank lines are skipped',
  };
  if (Array.isArray(items)) {
    const lines = [...items, ...items].map((item, i) => JSON.stringify({ ...item, customId: `row-${i + 1}` }));
    ndjson.example = `${lines.join('\n')}\n`;
  }
}

function describe(operation: Json, isPublic: boolean, limited: boolean): string {
  const access = isPublic
    ? 'Public: no API key.'
    : operation.responses['403']
      ? 'Needs the API key of a user with the admin role.'
      : 'Needs an API key (`Authorization: Bearer cvk_…`).';
  const rate = limited
    ? ' Counted against the caller’s per-minute rate limit (`RateLimit` headers).'
    : isPublic
      ? ''
      : ` ${NOT_LIMITED}`;
  return `${operation.summary}.\n\n${access}${rate} Errors are \`application/problem+json\` with a \`code\` from the catalog (GET /api/v1/docs/errors).`;
}

function problemResponse(code: ErrorCode): Json {
  const entry = ERROR_CATALOG[code];
  return {
    description: `\`${code}\`: ${entry.meaning}`,
    content: {
      'application/problem+json': {
        schema: { $ref: PROBLEM_REF },
        example: {
          type: problemType(code),
          title: entry.title,
          status: entry.status,
          detail: entry.meaning,
          code,
          requestId: '3f1c2a9e-5b7d-4c1e-9a8f-2d6b0e4c7a11',
        },
      },
    },
  };
}

/** Every schema object in the document (components, parameters, bodies, responses), depth first. */
function walkSchemas(doc: Json, visit: (schema: Json) => void): void {
  const walk = (schema: unknown): void => {
    if (!schema || typeof schema !== 'object') return;
    const s = schema as Json;
    visit(s);
    for (const key of ['items', 'additionalProperties', 'not']) walk(s[key]);
    for (const key of ['allOf', 'oneOf', 'anyOf']) for (const member of s[key] ?? []) walk(member);
    for (const member of Object.values(s.properties ?? {})) walk(member);
  };
  for (const schema of Object.values(doc.components?.schemas ?? {})) walk(schema);
  for (const methods of Object.values<Json>(doc.paths)) {
    for (const operation of Object.values<Json>(methods)) {
      for (const parameter of operation.parameters ?? []) walk(parameter.schema);
      for (const media of Object.values<Json>(operation.requestBody?.content ?? {})) walk(media.schema);
      for (const response of Object.values<Json>(operation.responses ?? {})) {
        for (const media of Object.values<Json>(response.content ?? {})) walk(media.schema);
      }
    }
  }
}

/** 3.0's `nullable` → 3.1: a type list, or `oneOf` with `null` around a reference. Any JSON value: no type. */
function toOpenApi31(schema: Json): void {
  if (schema[ANY_JSON]) {
    delete schema[ANY_JSON];
    delete schema.type;
    delete schema.nullable;
  }
  if (!('nullable' in schema)) return;
  const nullable = schema.nullable === true;
  delete schema.nullable;
  if (!nullable) return;
  const reference = schema.$ref ? { $ref: schema.$ref } : schema.allOf?.length === 1 ? schema.allOf[0] : undefined;
  if (reference) {
    delete schema.$ref;
    delete schema.allOf;
    delete schema.type;
    schema.oneOf = [reference, { type: 'null' }];
  } else if (typeof schema.type === 'string') {
    schema.type = [schema.type, 'null'];
    if (Array.isArray(schema.enum) && !schema.enum.includes(null)) schema.enum.push(null);
  }
  // No type: the schema already admits any JSON value, null included.
}

/**
 * Request schemas (those a request body reaches) refuse unknown fields, as the validation pipe
 * does, and state their defaults in words (see the file comment).
 */
function closeRequestSchemas(doc: Json, schemas: Json): void {
  const reached = new Set<string>();
  const follow = (schema: unknown): void => {
    if (!schema || typeof schema !== 'object') return;
    const s = schema as Json;
    if (typeof s.$ref === 'string' && s.$ref.startsWith(SCHEMAS)) {
      const name = s.$ref.slice(SCHEMAS.length);
      if (reached.has(name)) return;
      reached.add(name);
      follow(schemas[name]);
    }
    for (const key of ['items', 'not']) follow(s[key]);
    for (const key of ['allOf', 'oneOf', 'anyOf']) for (const member of s[key] ?? []) follow(member);
    for (const member of Object.values(s.properties ?? {})) follow(member);
  };
  for (const methods of Object.values<Json>(doc.paths)) {
    for (const operation of Object.values<Json>(methods)) {
      for (const media of Object.values<Json>(operation.requestBody?.content ?? {})) follow(media.schema);
    }
  }
  for (const name of reached) {
    const schema = schemas[name];
    if (schema.type === 'object' && schema.properties && schema.additionalProperties === undefined) {
      schema.additionalProperties = false;
    }
    for (const property of Object.values<Json>(schema.properties ?? {})) {
      if (property.default === undefined) continue;
      const said = `Default: ${JSON.stringify(property.default)}.`;
      property.description = property.description ? `${property.description}. ${said}` : said;
      delete property.default;
    }
  }
}

/**
 * An example value built from a schema: its own `example`s first, else a value of its type. A
 * request example holds the required fields and those with an example of their own.
 */
export function exampleOf(
  schema: Json | undefined,
  schemas: Json,
  options: { request?: boolean } = {},
  seen: string[] = [],
): unknown {
  if (!schema) return undefined;
  if (schema.example !== undefined) return schema.example;
  if (schema.$ref) {
    const name = String(schema.$ref).slice(SCHEMAS.length);
    return seen.includes(name) ? {} : exampleOf(schemas[name], schemas, options, [...seen, name]);
  }
  if (schema.oneOf || schema.anyOf) {
    const members: Json[] = schema.oneOf ?? schema.anyOf;
    if (members.some((m) => m.type === 'null')) return null;
    return exampleOf(members[0], schemas, options, seen);
  }
  if (schema.allOf) {
    return Object.assign({}, ...schema.allOf.map((m: Json) => exampleOf(m, schemas, options, seen)));
  }
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if (schema.default !== undefined) return schema.default;
  const type = Array.isArray(schema.type) ? schema.type : [schema.type];
  if (type.includes('null')) return null;
  switch (type[0]) {
    case 'object': {
      const example: Json = {};
      const required: string[] = schema.required ?? [];
      for (const [name, property] of Object.entries<Json>(schema.properties ?? {})) {
        if (options.request && !required.includes(name) && property.example === undefined) continue;
        example[name] = exampleOf(property, schemas, options, seen);
      }
      return example;
    }
    case 'array':
      return [exampleOf(schema.items, schemas, options, seen)];
    case 'integer':
    case 'number':
      return Math.min(Math.max(0, schema.minimum ?? 0), schema.maximum ?? Infinity);
    case 'boolean':
      return true;
    case 'string':
      return schema.format === 'uuid' ? EXAMPLE_UUID : schema.format === 'date-time' ? EXAMPLE_TIME : 'string';
    default:
      return {};
  }
}
