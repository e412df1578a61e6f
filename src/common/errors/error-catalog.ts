/**
 * The fixed catalog of error codes. Every error response carries one of these in `code`;
 * the HTTP status is derived from the code, never chosen at the throw site.
 */
export const ERROR_CATALOG = {
  BAD_REQUEST: {
    status: 400,
    title: 'Bad request',
    // Not a malformed NDJSON line of a batch: that is a 422 naming the line (docs/ARCHITECTURE.md).
    meaning: 'The request could not be read: malformed JSON, or a malformed identifier.',
    action: 'Fix the request syntax; the `detail` field names what could not be parsed.',
  },
  INVALID_CURSOR: {
    status: 400,
    title: 'Invalid cursor',
    meaning: 'The `cursor` query parameter is not one this server issued (changed, truncated or made up).',
    action: 'Pass the previous page’s `nextCursor` unchanged, or leave `cursor` out to start at the first page.',
  },
  UNAUTHORIZED: {
    status: 401,
    title: 'Unauthorized',
    meaning: 'No API key was sent, or the key is unknown or revoked.',
    action: 'Send `Authorization: Bearer <api key>` with an active key.',
  },
  FORBIDDEN: {
    status: 403,
    title: 'Forbidden',
    meaning: 'The API key is valid but its user lacks the role this operation needs.',
    action: 'Use an admin key, or ask an administrator.',
  },
  NOT_FOUND: {
    status: 404,
    title: 'Not found',
    meaning: 'No such route, or no such object owned by the caller.',
    action: 'Check the path and the identifier; objects of other users are never visible.',
  },
  CONFLICT: {
    status: 409,
    title: 'Conflict',
    meaning: 'The request conflicts with the current state (for example a duplicate unique field).',
    action: 'Read the current state and retry with a different value.',
  },
  IDEMPOTENCY_CONFLICT: {
    status: 409,
    title: 'Idempotency key reused',
    meaning: 'The Idempotency-Key was already used with a different request body.',
    action: 'Use a new Idempotency-Key for a different request.',
  },
  JOB_NOT_CANCELLABLE: {
    status: 409,
    title: 'Job not cancellable',
    meaning: 'The job has already finished, so it cannot be cancelled.',
    action: 'Read the job; only queued or running jobs can be cancelled.',
  },
  JOB_NOT_RETRYABLE: {
    status: 409,
    title: 'Job not retryable',
    meaning:
      'Only a failed or cancelled job can be retried, and not one of a batch or pipeline run that has ended (its outcome is final).',
    action:
      'Read the job: wait for a queued or running job to end; submit a new job instead of retrying one of an ended batch or run.',
  },
  JOB_NOT_FINISHED: {
    status: 409,
    title: 'Job not finished',
    meaning: 'The job has no result yet.',
    action: 'Wait for `job.completed` (webhook) or poll the job, then fetch the result.',
  },
  REQUEST_TIMEOUT: {
    status: 408,
    title: 'Request timeout',
    meaning: 'The request headers did not arrive in time, so the connection was closed.',
    action: 'Send the whole request at once; check for a slow or stalled network path.',
  },
  RESULT_EXPIRED: {
    status: 410,
    title: 'Result expired',
    meaning: 'The job completed, but its result is older than the retention period and was deleted.',
    action: 'Fetch results within RESULT_RETENTION_DAYS of completion, or run the job again.',
  },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    title: 'Payload too large',
    meaning: 'The request body is larger than the configured limit.',
    action: 'Send a smaller body, or split the work into several requests.',
  },
  URI_TOO_LONG: {
    status: 414,
    title: 'URI too long',
    meaning: 'A path parameter is longer than any identifier Conveyor issues (100 characters).',
    action: 'Check the identifier in the path.',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    title: 'Unsupported media type',
    meaning: 'The Content-Type of the body is not one this operation accepts.',
    action: 'Send `Content-Type: application/json` (or `application/x-ndjson` where documented).',
  },
  EXPECTATION_FAILED: {
    status: 417,
    title: 'Expectation failed',
    meaning: 'The request has an `Expect` header other than `100-continue`, the only expectation Conveyor meets.',
    action: 'Remove the `Expect` header, or send `Expect: 100-continue`.',
  },
  VALIDATION_FAILED: {
    status: 422,
    title: 'Validation failed',
    meaning: 'The request is well-formed but some fields are invalid.',
    action: 'Fix each field listed in `errors` and send the request again.',
  },
  RATE_LIMITED: {
    status: 429,
    title: 'Rate limited',
    meaning: 'Too many requests for your tier in the current window.',
    action: 'Wait for the number of seconds in `Retry-After`, then retry.',
  },
  QUOTA_EXCEEDED: {
    status: 429,
    title: 'Quota exceeded',
    meaning: 'The monthly credits of your tier are used up.',
    action: 'Wait for the next month or move to a higher tier.',
  },
  HEADERS_TOO_LARGE: {
    status: 431,
    title: 'Request headers too large',
    meaning: 'The request line and headers together are larger than 16 KB.',
    action: 'Send fewer or shorter headers (cookies, long query strings).',
  },
  INTERNAL: {
    status: 500,
    title: 'Internal error',
    meaning: 'An unexpected error occurred. Nothing about it is sent to the client except the request id.',
    action: 'Retry later; report the `requestId` if it persists.',
  },
  SERVICE_UNAVAILABLE: {
    status: 503,
    title: 'Service unavailable',
    meaning: 'A dependency is unavailable or the instance is shutting down.',
    action: 'Retry with backoff.',
  },
} as const satisfies Record<string, { status: number; title: string; meaning: string; action: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

const STATUS_TO_CODE: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'NOT_FOUND',
  408: 'REQUEST_TIMEOUT',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  414: 'URI_TOO_LONG',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  417: 'EXPECTATION_FAILED',
  422: 'VALIDATION_FAILED',
  429: 'RATE_LIMITED',
  431: 'HEADERS_TOO_LARGE',
  503: 'SERVICE_UNAVAILABLE',
};

/** The catalog code for an HTTP status raised outside our code (Nest, Fastify), or for a documented status. */
export function codeForStatus(status: number): ErrorCode {
  return STATUS_TO_CODE[status] ?? (status >= 500 ? 'INTERNAL' : 'BAD_REQUEST');
}

/** `type` URI of a problem document: a stable, documented address per code. */
export function problemType(code: ErrorCode): string {
  return `https://conveyor.dev/problems/${code.toLowerCase().replaceAll('_', '-')}`;
}
