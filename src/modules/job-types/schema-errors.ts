import { type ErrorObject } from 'ajv';

export interface SchemaIssue {
  /** Where in the validated value: property names and array indexes. */
  path: Array<string | number>;
  message: string;
}

function segments(instancePath: string): Array<string | number> {
  if (instancePath === '') return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9]\d*)$/.test(s) ? Number(s) : s));
}

/**
 * Turns ajv errors into issues a person can act on: a missing or unknown property is reported
 * on the property itself ("input.ms is required") rather than on its parent object.
 */
export function toSchemaIssues(errors: readonly ErrorObject[] | null | undefined): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const seen = new Set<string>();
  for (const error of errors ?? []) {
    // ajv reports a bad property name twice: once from inside propertyNames, once for the keyword.
    if (error.propertyName !== undefined) continue;
    const path = segments(error.instancePath);
    const params = error.params as Record<string, unknown>;
    let message = error.message ?? 'is invalid';
    if (error.keyword === 'required') {
      path.push(String(params.missingProperty));
      message = 'is required';
    } else if (error.keyword === 'additionalProperties') {
      path.push(String(params.additionalProperty));
      message = 'is not allowed';
    } else if (error.keyword === 'propertyNames') {
      path.push(String(params.propertyName));
      message = 'is not an allowed property name';
    } else if (error.keyword === 'enum' && Array.isArray(params.allowedValues)) {
      message = `must be one of: ${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    }
    const key = JSON.stringify([path, message]);
    if (!seen.has(key)) issues.push({ path, message });
    seen.add(key);
  }
  return issues;
}

/** `input`, `input.ms`, `input.items[2].name`, `input.headers["x-a.b"]`. */
export function formatPath(root: string, path: ReadonlyArray<string | number>): string {
  return path.reduce<string>((out, segment) => {
    if (typeof segment === 'number') return `${out}[${segment}]`;
    return /^[A-Za-z_$][\w$]*$/.test(segment) ? `${out}.${segment}` : `${out}[${JSON.stringify(segment)}]`;
  }, root);
}
