import { ApiProperty, type ApiPropertyOptions } from '@nestjs/swagger';

/** Marks a schema for openapi-finish.ts: any JSON value (no `type`), not Nest's inferred `type: object`. */
export const ANY_JSON = 'x-conveyor-any-json';

/**
 * A property that holds any JSON value (a job's output, a cache entry): documented without a
 * `type`, so generated clients type it `unknown` rather than an empty object.
 */
export function ApiJsonValueProperty(options: ApiPropertyOptions = {}): PropertyDecorator {
  return ApiProperty({ ...options, [ANY_JSON]: true } as unknown as ApiPropertyOptions);
}
