import { ParseUUIDPipe, ValidationPipe, type ValidationError } from '@nestjs/common';
import { DomainError, ValidationFailedError, type FieldError } from '../errors/domain-error.js';

function collect(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...collect(e.children ?? [], field)];
  });
}

/** Global validation: whitelist, reject unknown fields, transform to DTO instances; 422 with field errors. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    forbidUnknownValues: true,
    stopAtFirstError: false,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => new ValidationFailedError(collect(errors)),
  });
}

/** Path ids: a malformed UUID is a 400 naming the parameter, never a database error. */
export class UuidParam extends ParseUUIDPipe {
  constructor(name = 'id') {
    super({
      version: undefined,
      exceptionFactory: () =>
        new DomainError('BAD_REQUEST', `Path parameter "${name}" must be a UUID`, {
          errors: [{ field: name, message: `${name} must be a UUID` }],
        }),
    });
  }
}
