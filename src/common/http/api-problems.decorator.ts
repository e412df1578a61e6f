import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { codeForStatus, ERROR_CATALOG, problemType, type ErrorCode } from '../errors/error-catalog.js';
import { ProblemDto } from './problem.dto.js';

/** A code with what it means for this operation, when the catalog's general meaning would mislead. */
export interface ProblemNote {
  code: ErrorCode;
  description: string;
}

/**
 * Documents problem+json error responses for an operation, by status (or by code for shared
 * statuses, or by code with an operation-specific description).
 */
export function ApiProblems(
  ...statusesOrCodes: Array<number | ErrorCode | ProblemNote>
): MethodDecorator & ClassDecorator {
  const byStatus = new Map<number, ErrorCode[]>();
  const notes = new Map<ErrorCode, string>();
  for (const item of statusesOrCodes) {
    const code = typeof item === 'number' ? codeForStatus(item) : typeof item === 'string' ? item : item.code;
    if (typeof item === 'object') notes.set(code, item.description);
    const status = ERROR_CATALOG[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return applyDecorators(
    ApiExtraModels(ProblemDto),
    ...[...byStatus].map(([status, codes]) =>
      ApiResponse({
        status,
        description: codes.map((c) => notes.get(c) ?? `\`${c}\`: ${ERROR_CATALOG[c].meaning}`).join(' '),
        content: {
          'application/problem+json': {
            schema: { $ref: getSchemaPath(ProblemDto) },
            example: {
              type: problemType(codes[0]),
              title: ERROR_CATALOG[codes[0]].title,
              status,
              detail: ERROR_CATALOG[codes[0]].meaning,
              code: codes[0],
              requestId: '3f1c2a9e-5b7d-4c1e-9a8f-2d6b0e4c7a11',
            },
          },
        },
      }),
    ),
  );
}
