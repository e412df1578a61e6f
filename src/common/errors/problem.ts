import { HttpException } from '@nestjs/common';
import { DomainError, type FieldError } from './domain-error.js';
import { codeForStatus, ERROR_CATALOG, problemType, type ErrorCode } from './error-catalog.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** The RFC 9457 body every error response carries. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  requestId: string;
  instance?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

export interface ProblemWithHeaders {
  problem: Problem;
  headers: Record<string, string>;
  /** True when the error was not expected and must be logged with its stack. */
  unexpected: boolean;
  /** True when PostgreSQL could not be reached: logged as a warning, without a stack. */
  databaseUnavailable?: boolean;
}

/** Node's socket and name errors that mean the server is not there (refused, reset, timed out, unreachable, unknown). */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * The request failed because PostgreSQL is not there right now, not because of the request:
 * a refused or lost connection (the pg driver's own message included), SQLSTATE class 08
 * (connection exception; not 08P01, a protocol violation: our bug), 57P01-57P03 (the server
 * shutting down, crashed, or still starting). Sending it again shortly may succeed: 503 with
 * Retry-After, not a 500 that reads like a bug. A pool that gave no connection in time is not
 * this: the database answers, and that is overload or a leak, worth its stack in the log.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  if (typeof code === 'string') {
    if (UNREACHABLE.has(code) || ['57P01', '57P02', '57P03'].includes(code)) return true;
    if (code.startsWith('08')) return code !== '08P01';
  }
  return error.message.startsWith('Connection terminated');
}

/** Fastify's own errors (body parsing, content type, size limit) carry a `FST_…` code and a status. */
interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  message: string;
}

function isFastifyError(error: unknown): error is FastifyLikeError {
  return (
    error instanceof Error &&
    typeof (error as FastifyLikeError).statusCode === 'number' &&
    typeof (error as FastifyLikeError).code === 'string' &&
    (error as FastifyLikeError).code!.startsWith('FST_')
  );
}

function fastifyDetail(error: FastifyLikeError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'Unsupported Content-Type; send application/json';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'Request body is larger than the configured limit';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'Body is empty but Content-Type is application/json';
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return `Malformed JSON body: ${error.message}`;
    case 'FST_ERR_BAD_URL':
      return 'The URL is malformed: a percent-encoded sequence in the path is not valid UTF-8';
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return 'A path parameter is longer than 100 characters';
    default:
      return error.message;
  }
}

/** Maps anything thrown while serving a request to its problem document. Never leaks internals of a 5xx. */
export function toProblem(error: unknown, requestId: string, instance?: string): ProblemWithHeaders {
  let code: ErrorCode;
  let detail: string;
  let errors: FieldError[] | undefined;
  let headers: Record<string, string> = {};
  let unexpected = false;
  let extensions: Record<string, unknown> = {};
  let databaseUnavailable = false;

  if (error instanceof DomainError) {
    code = error.code;
    detail = error.message;
    errors = error.errors;
    headers = error.headers ?? {};
    extensions = error.extensions ?? {};
  } else if (error instanceof HttpException) {
    const status = error.getStatus();
    code = codeForStatus(status);
    const response = error.getResponse();
    const message =
      typeof response === 'string' ? response : ((response as { message?: unknown }).message ?? error.message);
    detail = Array.isArray(message) ? message.join('; ') : String(message);
    unexpected = status >= 500;
  } else if (isFastifyError(error)) {
    code = codeForStatus(error.statusCode!);
    detail = fastifyDetail(error);
    unexpected = error.statusCode! >= 500;
  } else if (error instanceof SyntaxError && (error as FastifyLikeError).statusCode === 400) {
    code = 'BAD_REQUEST';
    detail = `Malformed JSON body: ${error.message}`;
  } else if (isDatabaseUnavailable(error)) {
    code = 'SERVICE_UNAVAILABLE';
    detail =
      'The database could not be reached, so the request may not have completed. Check its outcome (read the ' +
      'object, or send it again with the same Idempotency-Key) before sending it again';
    headers = { 'Retry-After': '1' };
    databaseUnavailable = true;
  } else {
    code = 'INTERNAL';
    detail = 'An unexpected error occurred';
    unexpected = true;
  }

  if (code === 'INTERNAL' || unexpected) {
    // The detail of an unexpected error may hold SQL or a stack; the client gets the request id only.
    detail = `An unexpected error occurred; quote request id ${requestId} when reporting it`;
  }

  const entry = ERROR_CATALOG[code];
  const problem: Problem = {
    ...extensions,
    type: problemType(code),
    title: entry.title,
    status: entry.status,
    detail,
    code,
    requestId,
    ...(instance ? { instance } : {}),
    ...(errors?.length ? { errors } : {}),
  };
  return { problem, headers, unexpected, databaseUnavailable };
}
