import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toProblem } from './problem.js';

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
    const { problem, headers, unexpected } = toProblem(exception, String(request.id), request.url.split('?')[0]);
    if (unexpected) request.log.error({ err: exception, requestId: request.id }, 'unhandled error');
    if (reply.sent) return;
    void reply
      .status(problem.status)
      .headers(headers)
      .header('content-type', 'application/problem+json; charset=utf-8')
      .send(JSON.stringify(problem));
  }
}
