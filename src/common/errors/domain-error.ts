import { ERROR_CATALOG, type ErrorCode } from './error-catalog.js';

export interface FieldError {
  field: string;
  message: string;
}

/**
 * An error a module throws on purpose. The global filter turns it into problem+json with the
 * status of its code. Subclass it when a module needs a named error (`JobNotCancellableError`).
 */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    detail?: string,
    readonly errors?: FieldError[],
    /** Extra response headers, e.g. `Retry-After`. */
    readonly headers?: Record<string, string>,
    /** Extension members of the problem document (RFC 9457 §3.2), e.g. the failing health checks. */
    readonly extensions?: Record<string, unknown>,
  ) {
    super(detail ?? ERROR_CATALOG[code].title);
    this.name = 'DomainError';
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
    super('VALIDATION_FAILED', detail, errors);
  }
}
