import { randomUUID } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { LogController } from 'fastify';
import type { Logger } from 'pino';
import { AppModule } from './app.module.js';
import { Readable } from 'node:stream';
import { DomainError } from './common/errors/domain-error.js';
import { findNul } from './common/http/nul.js';
import { createValidationPipe } from './common/http/validation.js';
import { LifecycleState } from './common/lifecycle/lifecycle.state.js';
import { PinoNestLogger } from './common/logging/nest-logger.js';
import type { AppConfig } from './config/config.js';
import { setupSwagger } from './modules/docs/swagger.js';

export const API_PREFIX = 'api/v1';

const WORKER_ROUTES = new RegExp(`^/${API_PREFIX}/health/`);

// Client-sent ids are echoed only when they are short and plain, so they cannot inject into logs.
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function requestId(request: { headers: Record<string, string | string[] | undefined> }): string {
  const sent = request.headers['x-request-id'];
  return typeof sent === 'string' && SAFE_REQUEST_ID.test(sent) ? sent : randomUUID();
}

/**
 * Builds the HTTP application: Fastify with the request id, body limit and problem+json for
 * Fastify's own errors; Nest with the global prefix, validation and Swagger. `main.ts` and the
 * e2e tests both use this, so tests exercise the real configuration.
 */
const BATCHES_ROUTE = '/api/v1/batches';

export async function createApp(
  config: AppConfig,
  logger: Logger,
  lifecycle = new LifecycleState(),
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    loggerInstance: logger,
    // One line per request from our onResponse hook instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    genReqId: requestId,
    bodyLimit: config.http.bodyLimitBytes,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true },
  });
  // POST /batches: bodies up to BATCH_BODY_LIMIT_BYTES, and NDJSON handed over as a stream (read
  // line by line by the batches module). Any other route refuses NDJSON with 415.
  const server = adapter.getInstance();
  server.addHook('onRoute', (route) => {
    if (route.url === BATCHES_ROUTE && route.method === 'POST') route.bodyLimit = config.batches.bodyLimitBytes;
  });
  // Fastify parses text/plain by default; no route takes it, so it must be a 415, not a 422 later.
  server.removeContentTypeParser('text/plain');
  server.addContentTypeParser('application/x-ndjson', (request, payload, done) => {
    if (request.routeOptions.url === BATCHES_ROUTE && request.method === 'POST') return done(null, payload);
    done(new DomainError('UNSUPPORTED_MEDIA_TYPE', 'Only POST /batches accepts application/x-ndjson'));
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.register(config, lifecycle), adapter, {
    logger: new PinoNestLogger(logger),
    abortOnError: false,
  });

  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // ROLE=worker listens only for its probes; the API belongs to api/all pods.
    if (!config.runsApi && !WORKER_ROUTES.test(request.url)) {
      throw new DomainError('NOT_FOUND', `ROLE=${config.role} serves only /${API_PREFIX}/health`);
    }
  });
  // PostgreSQL cannot store NUL in text or jsonb: refuse it up front as a 400 naming the field,
  // instead of a 500 from the database. (NDJSON batch lines are checked line by line.)
  fastify.addHook('preValidation', async (request) => {
    const where =
      findNul(request.query, 'query') ?? (request.body instanceof Readable ? undefined : findNul(request.body));
    if (where) {
      throw new DomainError('BAD_REQUEST', 'Strings may not contain the NUL character (\\u0000)', {
        errors: [{ field: where, message: 'must not contain the NUL character' }],
      });
    }
  });
  fastify.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        url: request.url,
        statusCode: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 10) / 10,
        userId: request.principal?.userId,
      },
      'request completed',
    );
  });

  app.setGlobalPrefix(API_PREFIX);
  app.useGlobalPipes(createValidationPipe());
  if (config.http.swagger) setupSwagger(app);
  await app.init();
  return app;
}
