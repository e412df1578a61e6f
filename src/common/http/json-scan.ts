import { DomainError, ValidationFailedError, type FieldError } from '../errors/domain-error.js';

/**
 * What makes a parsed JSON value unsafe to go further: a string (or key) PostgreSQL cannot store
 * in `text` or `jsonb` (NUL; a lone UTF-16 surrogate, which `jsonb` refuses and `text` would turn
 * into U+FFFD), or nesting deeper than the recursive walks after parsing (class-transformer, Ajv,
 * JSON.stringify, the pg driver) can take without overflowing the stack.
 */
export type JsonProblemKind = 'nul' | 'surrogate' | 'depth';

export interface JsonProblem {
  kind: JsonProblemKind;
  /** Where: `input.a[1]`, `metadata.key`, `query.type`; the value itself is named by `name`. */
  field: string;
}

export interface JsonScanOptions {
  /** Deepest allowed nesting: the top-level array or object is level `topLevel`, each nested one a level more. */
  maxDepth: number;
  /** Prefix of every field path (`query` → `query.type`); none by default (`input.text`). */
  prefix?: string;
  /** The field name of the value itself, when it is the problem (a top-level string). Default `prefix`, else `body`. */
  name?: string;
  /** The level of the top-level value (default 1). */
  topLevel?: number;
}

// In a `u` regex, [\uD800-\uDFFF] matches only unpaired surrogates: a pair is one code point above U+FFFF.
const UNSTORABLE_CHAR = /[\0\uD800-\uDFFF]/u;

function charProblem(text: string): 'nul' | 'surrogate' | undefined {
  const match = UNSTORABLE_CHAR.exec(text);
  if (match === null) return undefined;
  return match[0] === '\0' ? 'nul' : 'surrogate';
}

/**
 * Arrays and plain objects, as JSON.parse and the query parser make them (prototype `Object.prototype`
 * or a null-prototype chain). Anything else (a stream, a Buffer, a Date) is not walked.
 */
function isContainer(value: unknown): value is object {
  if (Array.isArray(value)) return true;
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as object | null;
  return proto === null || Object.getPrototypeOf(proto) === null;
}

interface Frame {
  value: object;
  level: number;
  parent: Frame | undefined;
  key: string | number | undefined;
}

function pathOf(frame: Frame | undefined, key: string | number | undefined, prefix: string, name: string): string {
  const keys: Array<string | number> = key === undefined ? [] : [key];
  for (let f = frame; f !== undefined && f.key !== undefined; f = f.parent) keys.push(f.key);
  let path = prefix;
  for (let i = keys.length - 1; i >= 0; i -= 1) {
    const k = keys[i];
    path = typeof k === 'number' ? `${path}[${k}]` : path ? `${path}.${k}` : k;
  }
  return path || name;
}

/**
 * The first problem found in a parsed JSON value (or query object), or undefined. One iterative
 * walk (an explicit stack, never recursion, so depth cannot overflow it) checks every string and
 * key and the nesting depth, and stops at the first problem. Field paths are only built then.
 */
export function scanJson(value: unknown, options: JsonScanOptions): JsonProblem | undefined {
  const prefix = options.prefix ?? '';
  const name = options.name ?? (prefix || 'body');
  if (typeof value === 'string') {
    const kind = charProblem(value);
    return kind && { kind, field: name };
  }
  if (!isContainer(value)) return undefined;
  const topLevel = options.topLevel ?? 1;
  if (topLevel > options.maxDepth) return { kind: 'depth', field: name };
  const stack: Frame[] = [{ value, level: topLevel, parent: undefined, key: undefined }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const visit = (child: unknown, key: string | number): JsonProblem | undefined => {
      if (typeof child === 'string') {
        const kind = charProblem(child);
        return kind && { kind, field: pathOf(frame, key, prefix, name) };
      }
      if (!isContainer(child)) return undefined;
      if (frame.level + 1 > options.maxDepth) return { kind: 'depth', field: pathOf(frame, key, prefix, name) };
      stack.push({ value: child, level: frame.level + 1, parent: frame, key });
      return undefined;
    };
    if (Array.isArray(frame.value)) {
      const items = frame.value as unknown[];
      for (let i = 0; i < items.length; i += 1) {
        const found = visit(items[i], i);
        if (found) return found;
      }
    } else {
      const record = frame.value as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        const kind = charProblem(key);
        if (kind) return { kind, field: pathOf(frame, key, prefix, name) };
        const found = visit(record[key], key);
        if (found) return found;
      }
    }
  }
  return undefined;
}

/** What is wrong, as the `message` of a field error. */
export function describeJsonProblem(problem: JsonProblem, maxDepth: number): string {
  switch (problem.kind) {
    case 'nul':
      return 'must not contain the NUL character';
    case 'surrogate':
      return 'must not contain a lone UTF-16 surrogate (\\ud800–\\udfff without its pair)';
    case 'depth':
      return `nests arrays and objects deeper than ${maxDepth} levels (JSON_MAX_DEPTH)`;
  }
}

/**
 * The error for a request whose body or query has the problem: a string that cannot be stored is
 * 400 BAD_REQUEST (the text itself is malformed for us, as NUL always was); nesting past the limit
 * is well-formed JSON over a documented bound, 422 VALIDATION_FAILED.
 */
export function jsonProblemError(problem: JsonProblem, maxDepth: number): DomainError {
  const errors = [{ field: problem.field, message: describeJsonProblem(problem, maxDepth) }];
  switch (problem.kind) {
    case 'nul':
      return new DomainError('BAD_REQUEST', 'Strings may not contain the NUL character (\\u0000)', { errors });
    case 'surrogate':
      return new DomainError(
        'BAD_REQUEST',
        'Strings must be valid Unicode: a lone UTF-16 surrogate (\\ud800–\\udfff without its pair) cannot be stored',
        { errors },
      );
    case 'depth':
      return new ValidationFailedError(errors, `JSON may nest arrays and objects at most ${maxDepth} levels deep`);
  }
}

/** The size of a value as compact JSON, in UTF-8 bytes: what PostgreSQL is sent for a `jsonb`. */
export function jsonBytes(value: unknown): number {
  const text = JSON.stringify(value) as string | undefined;
  return text === undefined ? 0 : Buffer.byteLength(text);
}

/** A field error when `metadata` is larger than `limit` bytes as JSON (METADATA_LIMIT_BYTES). */
export function metadataTooLarge(metadata: unknown, limit: number, field = 'metadata'): FieldError | undefined {
  if (metadata === undefined) return undefined;
  const bytes = jsonBytes(metadata);
  if (bytes <= limit) return undefined;
  return { field, message: `is ${bytes} bytes as JSON; metadata may be at most ${limit} bytes (METADATA_LIMIT_BYTES)` };
}
