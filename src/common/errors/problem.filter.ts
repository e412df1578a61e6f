import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { PROBLEM_CONTENT_TYPE, toProblem } from './problem.js';

// What reading a request stream fails with when its client hangs up: Node's 'aborted' (ECONNRESET),
// a pipeline's premature close, a reset or broken connection.
const ABORT_CODES = new Set(['ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE']);

/**
 * The client closed the connection before its request was read (an upload cut short): not a fault
 * of ours, and one a client can repeat at will, so it must not reach the error log. Both the error
 * and the request's own state must say so: a database connection reset is an ECONNRESET too.
 */
export function isClientAbort(error: unknown, request: IncomingMessage): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  const abortLike = (code !== undefined && ABORT_CODES.has(code)) || error.message === 'aborted';
  return abortLike && (request.destroyed || request.socket.destroyed);
}

/**
 * The one global filter: every error thrown while serving a request becomes problem+json. Nest
 * installs it as Fastify's error and not-found handler too, so body-parser errors land here.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const { problem, headers, unexpected, databaseUnavailable } = toProblem(
      exception,
      String(request.id),
      request.url.split('?')[0],
    );
    // A client abort first: its ECONNRESET would read as a lost database connection.
    if (isClientAbort(exception, request.raw)) {
      const code = (exception as NodeJS.ErrnoException).code;
      request.log.info({ requestId: request.id, code }, 'client closed the connection before the request was read');
    } else if (databaseUnavailable) {
      const { code, message } = exception as NodeJS.ErrnoException;
      request.log.warn({ requestId: request.id, code, error: message }, 'database unavailable: answered 503');
    } else if (unexpected) {
      request.log.error({ err: exception, requestId: request.id }, 'unhandled error');
    }
    if (reply.sent) return;
    void reply
      .status(problem.status)
      .headers(headers)
      .header('content-type', PROBLEM_CONTENT_TYPE)
      .header('cache-control', 'no-store')
      .send(JSON.stringify(problem));
  }
}
