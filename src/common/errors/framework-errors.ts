import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { requestId } from '../http/request-id.js';
import { RAW_RESPONSE_SECURITY_HEADERS } from '../http/security-headers.js';
import { loggableUrl } from '../logging/logger.js';
import { DomainError } from './domain-error.js';
import type { ErrorCode } from './error-catalog.js';
import { PROBLEM_CONTENT_TYPE, toProblem } from './problem.js';

/*
 * Errors raised before Nest (and its ProblemFilter) sees the request get the same problem+json,
 * with a request id, from here:
 * - Fastify's router (`frameworkErrors`): a malformed URL, an over-long path parameter;
 * - Node's HTTP parser (`clientError`): headers over 16 KB, headers too slow, unparsable HTTP;
 * - Node's `Expect` handling (`checkExpectation`): any expectation but `100-continue`.
 */

function problemHeaders(id: string): Record<string, string> {
  return { ...RAW_RESPONSE_SECURITY_HEADERS, 'content-type': PROBLEM_CONTENT_TYPE, 'x-request-id': id };
}

function pathOf(url: string | undefined): string | undefined {
  return url?.split('?')[0];
}

/** Fastify's `frameworkErrors` option: errors its router raises before any hook runs. */
export function answerFrameworkError(error: Error, request: FastifyRequest, reply: FastifyReply): void {
  const id = String(request.id);
  const { problem, unexpected } = toProblem(error, id, pathOf(request.url));
  const fields = { method: request.method, url: loggableUrl(request.url), statusCode: problem.status };
  if (unexpected) request.log.error({ ...fields, err: error }, 'unhandled router error');
  else request.log.info({ ...fields, code: problem.code }, 'request rejected by the router');
  void reply.code(problem.status).headers(problemHeaders(id)).send(JSON.stringify(problem));
}

/** Node's parser errors that have a status of their own; any other is a 400. */
const PARSER_ERRORS: Record<string, [ErrorCode, string]> = {
  HPE_HEADER_OVERFLOW: ['HEADERS_TOO_LARGE', 'The request line and headers are larger than 16 KB'],
  ERR_HTTP_REQUEST_TIMEOUT: ['REQUEST_TIMEOUT', 'The request headers did not arrive in time'],
};

/**
 * Fastify's `clientErrorHandler` (Node's `clientError` event): the request could not be parsed, so
 * there is no request object, only the socket. Answers like Node's own handler (write, then close)
 * but with a problem document.
 */
export function clientErrorHandler(logger: Logger): (error: NodeJS.ErrnoException, socket: Socket) => void {
  return (error, socket) => {
    // The client is gone (connection reset): nobody to answer.
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const id = randomUUID();
    const known = error.code ? PARSER_ERRORS[error.code] : undefined;
    const [code, detail]: [ErrorCode, string] = known ?? ['BAD_REQUEST', 'The request is not valid HTTP/1.1'];
    const { problem } = toProblem(new DomainError(code, detail), id);
    logger.info(
      { requestId: id, statusCode: problem.status, parserError: error.code },
      'request rejected by the HTTP parser',
    );
    if (socket.writable) {
      const body = JSON.stringify(problem);
      const headers = { ...problemHeaders(id), 'content-length': String(Buffer.byteLength(body)), connection: 'close' };
      const head = Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('');
      socket.write(`HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\n${head}\r\n${body}`);
    }
    socket.destroy();
  };
}

/**
 * Node's `checkExpectation` event: a request with an `Expect` header other than `100-continue`.
 * Without a listener Node answers 417 with an empty body. Its body is not read, so the connection
 * closes after the answer.
 */
export function expectationHandler(logger: Logger): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    const id = requestId(request);
    const error = new DomainError('EXPECTATION_FAILED', 'Only the expectation 100-continue is supported');
    const { problem } = toProblem(error, id, pathOf(request.url));
    logger.info(
      { requestId: id, method: request.method, url: loggableUrl(request.url ?? ''), statusCode: problem.status },
      'request rejected: unsupported Expect header',
    );
    const body = JSON.stringify(problem);
    response.writeHead(problem.status, {
      ...problemHeaders(id),
      'content-length': String(Buffer.byteLength(body)),
      connection: 'close',
    });
    response.end(body);
  };
}
