import { BadRequestException, NotFoundException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { DomainError, ValidationFailedError } from './domain-error.js';
import { ERROR_CATALOG } from './error-catalog.js';
import { toProblem } from './problem.js';

describe('toProblem', () => {
  it('maps a domain error to its catalog status and keeps field errors', () => {
    const { problem } = toProblem(new ValidationFailedError([{ field: 'email', message: 'bad' }]), 'r1', '/x');
    expect(problem).toMatchObject({
      status: 422,
      code: 'VALIDATION_FAILED',
      requestId: 'r1',
      instance: '/x',
      errors: [{ field: 'email', message: 'bad' }],
    });
    expect(problem.type).toBe('https://conveyor.dev/problems/validation-failed');
  });

  it('never leaks the message or stack of an unexpected error', () => {
    const error = new Error('duplicate key value violates unique constraint "users_pkey" at SELECT * FROM users');
    const { problem, unexpected } = toProblem(error, 'r2');
    expect(unexpected).toBe(true);
    expect(problem.status).toBe(500);
    expect(problem.code).toBe('INTERNAL');
    expect(JSON.stringify(problem)).not.toMatch(/SELECT|users_pkey|at /);
    expect(problem.detail).toContain('r2');
  });

  it('answers 503 with Retry-After when PostgreSQL is unreachable, leaking nothing of the error', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const shutdown = Object.assign(new Error('terminating connection due to administrator command'), {
      code: '57P01',
    });
    const starting = Object.assign(new Error('the database system is starting up'), { code: '57P03' });
    for (const error of [refused, shutdown, starting, new Error('Connection terminated unexpectedly')]) {
      const { problem, headers, unexpected, databaseUnavailable } = toProblem(error, 'r3', '/api/v1/jobs');
      expect(problem).toMatchObject({ status: 503, code: 'SERVICE_UNAVAILABLE', requestId: 'r3' });
      expect(headers).toEqual({ 'Retry-After': '1' });
      expect(unexpected).toBe(false);
      expect(databaseUnavailable).toBe(true);
      expect(problem.detail).not.toContain(error.message);
    }
    // A query error is still a 500 (its SQLSTATE is not a connection's), and so are a protocol
    // violation (08P01: our bug) and a pool that gave no connection in time (the database answers).
    const constraint = Object.assign(new Error('duplicate key'), { code: '23505' });
    const protocol = Object.assign(new Error('bind message supplies 1 parameters'), { code: '08P01' });
    const pool = new Error('timeout exceeded when trying to connect');
    for (const error of [constraint, protocol, pool]) expect(toProblem(error, 'r4').problem.status).toBe(500);
  });

  it('maps Nest HTTP exceptions and Fastify parser errors by status', () => {
    expect(toProblem(new NotFoundException(), 'r').problem.code).toBe('NOT_FOUND');
    expect(toProblem(new BadRequestException('x'), 'r').problem.code).toBe('BAD_REQUEST');
    const tooLarge = Object.assign(new Error('too large'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 });
    expect(toProblem(tooLarge, 'r').problem).toMatchObject({ status: 413, code: 'PAYLOAD_TOO_LARGE' });
    const badUrl = Object.assign(new Error("'/x/%ED' is not a valid url component"), {
      code: 'FST_ERR_BAD_URL',
      statusCode: 400,
    });
    expect(toProblem(badUrl, 'r').problem).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
    const longParam = Object.assign(new Error('too long'), { code: 'FST_ERR_MAX_PARAM_LENGTH', statusCode: 414 });
    expect(toProblem(longParam, 'r').problem).toMatchObject({ status: 414, code: 'URI_TOO_LONG' });
  });

  it('derives every status from the catalog', () => {
    for (const code of Object.keys(ERROR_CATALOG) as Array<keyof typeof ERROR_CATALOG>) {
      const { problem } = toProblem(new DomainError(code), 'r');
      expect(problem.status).toBe(ERROR_CATALOG[code].status);
    }
  });
});
