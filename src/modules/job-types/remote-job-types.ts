import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse as parseYaml } from 'yaml';
import {
  HttpTimeoutError,
  sendHttpRequest,
  withDeadline,
  type HttpResponseData,
} from '../../common/net/http-client.js';
import { JobError, type JobType } from './job-type.js';
import { formatPath, toSchemaIssues } from './schema-errors.js';

/** One entry of JOB_TYPES_FILE. */
export interface RemoteJobTypeConfig {
  name: string;
  description?: string;
  url: string;
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
  cost: number;
  timeoutMs: number;
  maxAttempts?: number;
  backoff?: { baseMs: number; maxMs: number };
  /** Sent with every call, e.g. a token the processor checks. */
  headers?: Record<string, string>;
  example?: unknown;
}

/** Lower-case, dot/dash/underscore separated: `image.resize`, `pdf-render`. */
export const JOB_TYPE_NAME_PATTERN = '^[a-z][a-z0-9]*(?:[._-][a-z0-9]+)*$';
/** A processor's JSON answer larger than this fails the job: it would not fit a result row sensibly. */
export const REMOTE_RESPONSE_MAX_BYTES = 5 * 1024 * 1024;
const ERROR_BODY_BYTES = 1024;

const FILE_SCHEMA = {
  type: 'array',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'url', 'inputSchema', 'cost', 'timeoutMs'],
    properties: {
      name: { type: 'string', maxLength: 64, pattern: JOB_TYPE_NAME_PATTERN },
      description: { type: 'string', maxLength: 2000 },
      url: { type: 'string', pattern: '^https?://' },
      inputSchema: { type: 'object' },
      outputSchema: { type: 'object' },
      cost: { type: 'integer', minimum: 0 },
      timeoutMs: { type: 'integer', minimum: 1, maximum: 3_600_000 },
      maxAttempts: { type: 'integer', minimum: 1, maximum: 25 },
      backoff: {
        type: 'object',
        additionalProperties: false,
        required: ['baseMs', 'maxMs'],
        properties: { baseMs: { type: 'integer', minimum: 0 }, maxMs: { type: 'integer', minimum: 0 } },
      },
      headers: { type: 'object', additionalProperties: { type: 'string' } },
      example: {},
    },
  },
};
const validateFile = new Ajv2020({ allErrors: true }).compile<RemoteJobTypeConfig[]>(FILE_SCHEMA);

/** JOB_TYPES_FILE cannot be used; the message lists every problem, each naming its entry. */
export class JobTypesFileError extends Error {
  constructor(file: string, problems: string[]) {
    super(`JOB_TYPES_FILE ${file} is invalid:\n  - ${problems.join('\n  - ')}`);
    this.name = 'JobTypesFileError';
  }
}

function parseFile(file: string): unknown {
  const extension = path.extname(file).toLowerCase();
  if (!['.json', '.yaml', '.yml'].includes(extension)) {
    throw new JobTypesFileError(file, ['the file name must end in .json, .yaml or .yml']);
  }
  try {
    const text = readFileSync(file, 'utf8');
    return extension === '.json' ? (JSON.parse(text) as unknown) : (parseYaml(text) as unknown);
  } catch (error) {
    throw new JobTypesFileError(file, [(error as Error).message]);
  }
}

function entryLabel(data: unknown, index: number): string {
  const name: unknown = Array.isArray(data) ? (data[index] as { name?: unknown } | undefined)?.name : undefined;
  return `entry ${index + 1}${typeof name === 'string' ? ` ("${name}")` : ''}`;
}

/** Reads and validates JOB_TYPES_FILE (JSON or YAML by extension): a list of remote job types. */
export function readJobTypesFile(file: string): RemoteJobTypeConfig[] {
  const data = parseFile(file);
  if (!validateFile(data)) {
    const problems = toSchemaIssues(validateFile.errors).map(({ path: [index, ...rest], message }) =>
      typeof index === 'number'
        ? `${entryLabel(data, index)}: ${formatPath('', rest).replace(/^\./, '') || 'the entry'} ${message}`
        : `the file ${message} (expected a list of job types)`,
    );
    throw new JobTypesFileError(file, problems);
  }
  const problems = data.flatMap((entry, index) =>
    URL.canParse(entry.url) ? [] : [`${entryLabel(data, index)}: url is not a valid URL`],
  );
  if (problems.length > 0) throw new JobTypesFileError(file, problems);
  return data;
}

function firstBytes(body: Buffer): string {
  return body.subarray(0, ERROR_BODY_BYTES).toString('utf8');
}

/**
 * A job type whose work is done by an HTTP service: POST `{jobId, type, input}` as JSON, and the
 * JSON answer is the output. The URL is operator configuration, trusted and often internal, so
 * it is deliberately NOT passed through the SSRF guard (which is for URLs that users supply).
 */
export function createRemoteJobType(config: RemoteJobTypeConfig): JobType {
  const url = new URL(config.url);
  const where = `Remote job type "${config.name}"`;
  return {
    name: config.name,
    description: config.description ?? `Remote job type ${config.name}.`,
    inputSchema: config.inputSchema,
    outputSchema: config.outputSchema,
    cost: config.cost,
    // The file's timeoutMs bounds the HTTP call; the attempt gets a second more, so a slow
    // processor fails as REMOTE_TIMEOUT (with its name) rather than as a generic job timeout.
    timeoutMs: config.timeoutMs + 1_000,
    maxAttempts: config.maxAttempts ?? 3,
    backoff: config.backoff ?? { baseMs: 1_000, maxMs: 60_000 },
    example: config.example,
    async handle(input, { jobId, signal }) {
      const body = JSON.stringify({ jobId, type: config.name, input });
      const headers = { ...config.headers, 'content-type': 'application/json', accept: 'application/json' };
      let res: HttpResponseData;
      try {
        res = await withDeadline(config.timeoutMs, signal, (deadline) =>
          sendHttpRequest(url, {
            method: 'POST',
            headers,
            body,
            signal: deadline,
            maxResponseBytes: REMOTE_RESPONSE_MAX_BYTES,
          }),
        );
      } catch (error) {
        // Aborted by the worker (cancel, job timeout, shutdown): its reason, not ours.
        if (signal.aborted) throw error;
        if (error instanceof HttpTimeoutError) {
          throw new JobError('REMOTE_TIMEOUT', `${where} did not answer within ${config.timeoutMs} ms`);
        }
        throw new JobError('REMOTE_FAILED', `${where} could not be reached: ${(error as Error).message}`);
      }
      const status = res.status;
      // 5xx, and the two 4xx that mean "not now" (408 timeout, 429 overloaded), are worth retrying;
      // the spec says "4xx fail the job", but failing on a processor's back-pressure would lose work.
      if (status >= 500 || status === 408 || status === 429) {
        throw new JobError('REMOTE_FAILED', `${where} answered ${status}: ${firstBytes(res.body)}`);
      }
      if (status >= 400) {
        throw new JobError(
          'REMOTE_REJECTED',
          `${where} rejected the job with ${status}: ${firstBytes(res.body)}`,
          false,
        );
      }
      // A redirect or an unparseable answer is a broken deployment: retrying gives the same answer.
      if (status < 200 || status >= 300) {
        const location = res.headers.location ? ` to ${res.headers.location}` : '';
        throw new JobError(
          'REMOTE_INVALID_RESPONSE',
          `${where} answered ${status}${location}; redirects are not followed`,
          false,
        );
      }
      if (res.truncated) {
        throw new JobError(
          'REMOTE_INVALID_RESPONSE',
          `${where} answered more than ${REMOTE_RESPONSE_MAX_BYTES} bytes`,
          false,
        );
      }
      const text = res.body.toString('utf8');
      if (text.trim() === '') return null;
      try {
        return JSON.parse(text) as unknown;
      } catch (error) {
        throw new JobError(
          'REMOTE_INVALID_RESPONSE',
          `${where} answered ${status} without JSON: ${(error as Error).message}`,
          false,
        );
      }
    },
  };
}

/** Remote job types from JOB_TYPES_FILE; none when it is not set. */
export function loadRemoteJobTypes(file: string | undefined): JobType[] {
  return file ? readJobTypesFile(file).map(createRemoteJobType) : [];
}
