import type { FastifyReply, FastifyRequest } from 'fastify';
import { toProblem } from './problem.js';

/** Writes the problem document for `error`; shared by the Nest filter and Fastify's own error/404 handlers. */
export function sendProblem(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const path = request.url.split('?')[0];
  const { problem, headers, unexpected } = toProblem(error, String(request.id), path);
  if (unexpected) request.log.error({ err: error, requestId: request.id }, 'unhandled error');
  if (reply.sent) return;
  void reply
    .status(problem.status)
    .headers(headers)
    .header('content-type', 'application/problem+json; charset=utf-8')
    .send(JSON.stringify(problem));
}
