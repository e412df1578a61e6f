import { HttpTimeoutError, type HttpResponseData } from '../../../common/net/http-client.js';
import { guardedFetch, SsrfBlockedError, SsrfGuard, type HostResolver } from '../../../common/net/ssrf-guard.js';
import { APP_VERSION } from '../../../config/config.js';
import { JobError, type JobType } from '../job-type.js';

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] as const;
export const HTTP_RESPONSE_MAX_BYTES = 256 * 1024;
const TIMEOUT_MS = 30_000;

export interface HttpRequestJobOptions {
  allowedCidrs: readonly string[];
  allowHttp: boolean;
  /** Tests inject a resolver; production uses the system's. */
  resolve?: HostResolver;
  /** Time for the whole request, DNS to last byte. */
  timeoutMs?: number;
}

interface HttpRequestInput {
  method: (typeof HTTP_METHODS)[number];
  url: string;
  headers?: Record<string, string>;
  body?: string | Record<string, unknown>;
}

// Connection and framing headers belong to the HTTP client, not to the job: a forged Host or
// Content-Length would desynchronise the request. JSON Schema regexes have no /i flag, hence [hH].
const RESERVED_HEADERS = ['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te'];
const anyCase = (name: string): string => name.replace(/[a-z]/g, (c) => `[${c}${c.toUpperCase()}]`);
const HEADER_NAME = `^(?!(?:${RESERVED_HEADERS.map(anyCase).join('|')})$)[!#$%&'*+.^_\`|~0-9A-Za-z-]+$`;
// What node:http accepts in a header value (no CR/LF, nothing beyond Latin-1).
const HEADER_VALUE = '^[\\t\\u0020-\\u007e\\u0080-\\u00ff]*$';
const JSON_CONTENT_TYPE = /^\s*application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i;

function decodeBody(res: HttpResponseData): unknown {
  // PostgreSQL's jsonb cannot hold NUL; a body with one (binary, or a broken server) keeps the rest.
  const text = res.body.toString('utf8').replace(/\0/g, '\uFFFD');
  if (res.truncated || !JSON_CONTENT_TYPE.test(res.headers['content-type'] ?? '')) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // The target mislabelled its body; the raw text is more useful to the caller than a failure.
    return text;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Outbound HTTP as a job, behind the SSRF guard. A 4xx/5xx answer is the job's output, not an
 * error: the request was made and its answer is the result the caller asked for, and retrying
 * a POST that got a 500 could repeat its side effect. Only failures to get any answer (network
 * errors, timeouts) are retried.
 */
export function createHttpRequestJobType(options: HttpRequestJobOptions): JobType {
  const guard = new SsrfGuard(options, options.resolve);
  const timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
  return {
    name: 'http.request',
    description:
      'Sends one HTTP request and returns `{status, headers, body, truncated}`. Redirects are not followed; ' +
      `the body is capped at ${HTTP_RESPONSE_MAX_BYTES / 1024} KB and parsed when it is JSON. Private, ` +
      'loopback and other internal addresses are refused (SSRF_BLOCKED).',
    inputSchema: {
      type: 'object',
      additionalProperties: false,
      required: ['method', 'url'],
      properties: {
        method: { type: 'string', enum: [...HTTP_METHODS] },
        url: { type: 'string', maxLength: 8192, pattern: '^[hH][tT][tT][pP][sS]?://' },
        headers: {
          type: 'object',
          maxProperties: 50,
          propertyNames: { type: 'string', pattern: HEADER_NAME },
          additionalProperties: { type: 'string', maxLength: 8192, pattern: HEADER_VALUE },
        },
        body: { type: ['string', 'object'], maxLength: 1_048_576 },
      },
    },
    outputSchema: {
      type: 'object',
      additionalProperties: false,
      required: ['status', 'headers', 'body', 'truncated'],
      properties: {
        status: { type: 'integer' },
        headers: { type: 'object', additionalProperties: { type: 'string' } },
        body: {},
        truncated: { type: 'boolean' },
      },
    },
    cost: 5,
    // A little longer than the request's own limit, so a slow target fails as HTTP_TIMEOUT with
    // a clear message rather than as a generic job timeout.
    timeoutMs: timeoutMs + 1_000,
    maxAttempts: 3,
    backoff: { baseMs: 2_000, maxMs: 300_000 },
    example: { method: 'GET', url: 'https://example.com/' },
    async handle(input, { signal }) {
      const request = input as HttpRequestInput;
      const headers: Record<string, string> = { 'user-agent': `conveyor/${APP_VERSION}`, ...request.headers };
      let body: string | undefined;
      if (typeof request.body === 'string') {
        body = request.body;
      } else if (request.body !== undefined) {
        body = JSON.stringify(request.body);
        const named = Object.keys(headers).some((name) => name.toLowerCase() === 'content-type');
        if (!named) headers['content-type'] = 'application/json';
      }
      try {
        const res = await guardedFetch(
          request.url,
          { method: request.method, headers, body, signal, timeoutMs, maxResponseBytes: HTTP_RESPONSE_MAX_BYTES },
          guard,
        );
        return { status: res.status, headers: res.headers, body: decodeBody(res), truncated: res.truncated };
      } catch (error) {
        // Aborted by the worker (cancel, job timeout, shutdown): its reason, not ours.
        if (signal.aborted) throw error;
        if (error instanceof SsrfBlockedError) throw new JobError('SSRF_BLOCKED', error.message, false);
        if (error instanceof HttpTimeoutError) throw new JobError('HTTP_TIMEOUT', error.message, true);
        throw new JobError('HTTP_REQUEST_FAILED', `Request failed: ${messageOf(error)}`, true);
      }
    },
  };
}
