import type {
  OpenAPIObject,
  OperationObject,
  ParameterObject,
  ReferenceObject,
  RequestBodyObject,
  SchemaObject,
} from '@nestjs/swagger';

/** The id every example path uses (a UUID, as Conveyor issues); the e2e test swaps it for a real one. */
export const EXAMPLE_ID = '0b7c3e8a-4f2d-4c5e-9a1b-6d8f2e3c4b5a';
/** A fixed time for date-time examples, so samples (and their cache) do not change between builds. */
const EXAMPLE_TIME = '2026-01-01T00:00:00Z';
/** Nesting past this is not followed: a self-referencing schema must not loop. */
const MAX_DEPTH = 6;

type Schema = SchemaObject | ReferenceObject;

function isRef(value: unknown): value is ReferenceObject {
  return typeof value === 'object' && value !== null && '$ref' in value;
}

/** Follows a local `#/components/…` reference; anything else resolves to itself. */
export function resolve<T>(document: OpenAPIObject, value: T | ReferenceObject | undefined): T | undefined {
  let current: unknown = value;
  for (let hops = 0; isRef(current) && hops < 10; hops += 1) {
    const path = current.$ref.replace(/^#\//, '').split('/');
    current = path.reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], document);
  }
  return current as T | undefined;
}

/**
 * A realistic value for a schema: its example, else its default, else the first enum value, else
 * one built from its type. Objects get their required properties, or, when nothing is required,
 * the properties that have an example (an empty PATCH body shows nothing).
 */
export function exampleOf(document: OpenAPIObject, schema: Schema | undefined, depth = 0): unknown {
  const resolved = resolve<SchemaObject>(document, schema);
  if (!resolved || depth > MAX_DEPTH) return undefined;
  if (resolved.example !== undefined) return resolved.example;
  if (resolved.default !== undefined) return resolved.default;
  if (resolved.enum?.length) return resolved.enum[0];
  // 3.1's nullable `oneOf: [{$ref}, {type: 'null'}]`: the non-null member.
  const variant = [...(resolved.allOf ?? []), ...(resolved.oneOf ?? []), ...(resolved.anyOf ?? [])].find(
    (member) => isRef(member) || member.type !== 'null',
  );
  if (variant) return exampleOf(document, variant, depth + 1);
  const type = Array.isArray(resolved.type) ? resolved.type.find((t) => t !== 'null') : resolved.type;
  switch (type) {
    case 'object':
      return objectExample(document, resolved, depth);
    case 'array': {
      const item = exampleOf(document, resolved.items, depth + 1);
      return item === undefined ? [] : [item];
    }
    case 'integer':
    case 'number':
      return resolved.minimum ?? 1;
    case 'boolean':
      return true;
    case 'string':
      return stringExample(resolved);
    default:
      return resolved.properties ? objectExample(document, resolved, depth) : undefined;
  }
}

function objectExample(document: OpenAPIObject, schema: SchemaObject, depth: number): Record<string, unknown> {
  const properties = schema.properties ?? {};
  const required = schema.required ?? [];
  const names = required.length
    ? required
    : Object.keys(properties).filter(
        (name) => resolve<SchemaObject>(document, properties[name])?.example !== undefined,
      );
  const value: Record<string, unknown> = {};
  for (const name of names) {
    const example = exampleOf(document, properties[name], depth + 1);
    if (example !== undefined) value[name] = example;
  }
  return value;
}

function stringExample(schema: SchemaObject): string {
  switch (schema.format) {
    case 'uuid':
      return EXAMPLE_ID;
    case 'date-time':
      return EXAMPLE_TIME;
    case 'date':
      return EXAMPLE_TIME.slice(0, 10);
    case 'email':
      return 'ada@example.com';
    case 'uri':
    case 'url':
      return 'https://example.com/';
    default:
      return 'example';
  }
}

/** A path or query value: the parameter's example, an id for `id`/`…Id` parameters, else its schema's. */
export function parameterExample(document: OpenAPIObject, parameter: ParameterObject): string {
  const schema = resolve<SchemaObject>(document, parameter.schema);
  const value =
    parameter.example ??
    schema?.example ??
    (/(^id|Id)$/.test(parameter.name) && !schema?.enum ? EXAMPLE_ID : exampleOf(document, schema));
  return typeof value === 'string' ? value : JSON.stringify(value ?? 'example');
}

/** The JSON body an operation's samples send: the request body's example if it has one, else built from its schema. */
export function requestBodyExample(
  document: OpenAPIObject,
  operation: OperationObject,
): { mimeType: string; example: unknown } | undefined {
  const body = resolve<RequestBodyObject>(document, operation.requestBody);
  const media = body?.content['application/json'];
  if (!media) return undefined;
  const named = Object.values(media.examples ?? {})
    .map((example) => resolve<{ value?: unknown }>(document, example)?.value)
    .find((value) => value !== undefined);
  return { mimeType: 'application/json', example: media.example ?? named ?? exampleOf(document, media.schema) ?? {} };
}
