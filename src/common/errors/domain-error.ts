import { ERROR_CATALOG, type ErrorCode } from './error-catalog.js';

export interface FieldError {
  field: string;
  message: string;
}

/** What a {@link DomainError} carries besides its code and detail. */
export interface DomainErrorOptions {
  /** The fields that failed, listed in the problem document's `errors`. */
  errors?: FieldError[];
  /** Extra response headers, e.g. `Retry-After`. */
  headers?: Record<string, string>;
  /** Extension members of the problem document (RFC 9457 §3.2), e.g. the failing health checks. */
  extensions?: Record<string, unknown>;
}

/**
 * An error a module throws on purpose. The global filter turns it into problem+json with the
 * status of its code. Subclass it when a module needs a named error (`JobNotCancellableError`).
 */
export class DomainError extends Error {
  readonly errors?: FieldError[];
  /** Extra response headers, e.g. `Retry-After`. */
  readonly headers?: Record<string, string>;
  /** Extension members of the problem document (RFC 9457 §3.2), e.g. the failing health checks. */
  readonly extensions?: Record<string, unknown>;

  constructor(
    readonly code: ErrorCode,
    detail?: string,
    options: DomainErrorOptions = {},
  ) {
    super(detail ?? ERROR_CATALOG[code].title);
    this.name = 'DomainError';
    this.errors = options.errors;
    this.headers = options.headers;
    this.extensions = options.extensions;
  }

  get status(): number {
    return ERROR_CATALOG[this.code].status;
  }
}

export class NotFoundError extends DomainError {
  constructor(what = 'Resource') {
    super('NOT_FOUND', `${what} not found`);
  }
}

export class ValidationFailedError extends DomainError {
  constructor(errors: FieldError[], detail = 'The request has invalid fields') {
    super('VALIDATION_FAILED', detail, { errors });
  }
}
