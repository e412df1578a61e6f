import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { LogController, type FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, FastifyChildLoggerFactory } from 'fastify/types/logger.js';
import type { Logger } from 'pino';
import { AppModule } from './app.module.js';
import { Readable } from 'node:stream';
import { DomainError } from './common/errors/domain-error.js';
import { answerFrameworkError, clientErrorHandler, expectationHandler } from './common/errors/framework-errors.js';
import { jsonProblemError, scanJson } from './common/http/json-scan.js';
import { requestId } from './common/http/request-id.js';
import { SECURITY_HEADERS } from './common/http/security-headers.js';
import { createValidationPipe } from './common/http/validation.js';
import { LifecycleState } from './common/lifecycle/lifecycle.state.js';
import { runFor } from './common/context/statement-context.js';
import { createAccessLogger, loggableUrl } from './common/logging/logger.js';
import { PinoNestLogger } from './common/logging/nest-logger.js';
import type { AppConfig } from './config/config.js';
import { CacheFastPath } from './modules/cache/cache-fast-path.js';
import { WriteMarks } from './database/write-marks.js';
import { MetricsService } from './modules/metrics/metrics.service.js';
import { DocsService } from './modules/docs/docs.service.js';
import { buildOpenApiDocument, setupSwagger } from './modules/docs/swagger.js';

/** Methods that change nothing: no write mark. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export const API_PREFIX = 'api/v1';

/**
 * Fastify gives every request a child logger (its requestId binding); through createLogger's
 * redaction that cost ~3 % of a cached read, for requests that mostly log nothing with it (the
 * access line has its own logger). This one makes the child the first time the request logs.
 * Methods on the prototype: Fastify checks a custom child's methods exist, which must not make it.
 */
class LazyChildLogger {
  private made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  private get logger(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindings, this.options));
  }

  get level(): string {
    return this.made?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  fatal(...args: unknown[]): void {
    Reflect.apply(this.logger.fatal, this.logger, args);
  }

  error(...args: unknown[]): void {
    Reflect.apply(this.logger.error, this.logger, args);
  }

  warn(...args: unknown[]): void {
    Reflect.apply(this.logger.warn, this.logger, args);
  }

  info(...args: unknown[]): void {
    Reflect.apply(this.logger.info, this.logger, args);
  }

  debug(...args: unknown[]): void {
    Reflect.apply(this.logger.debug, this.logger, args);
  }

  trace(...args: unknown[]): void {
    Reflect.apply(this.logger.trace, this.logger, args);
  }

  silent(...args: unknown[]): void {
    Reflect.apply(this.logger.silent, this.logger, args);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.logger.child(bindings, options);
  }
}

const lazyChildLogger: FastifyChildLoggerFactory = (logger, bindings, options) =>
  new LazyChildLogger(logger, bindings, options) as unknown as FastifyBaseLogger;

const WORKER_ROUTES = new RegExp(`^/(${API_PREFIX}/health/|metrics(\\?|$))`);

const API_ROUTES = `/${API_PREFIX}/`;

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
    childLoggerFactory: lazyChildLogger,
    bodyLimit: config.http.bodyLimitBytes,
    // Not Fastify's or Nest's own 503 while closing (plain JSON, no request id): ours, below.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true },
    // Errors raised before Nest sees the request are problem+json with a request id too: the
    // router's (malformed URL, over-long path parameter) and Node's parser's (headers too large).
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: clientErrorHandler(logger),
  });
  // POST /batches: bodies up to BATCH_BODY_LIMIT_BYTES, and NDJSON handed over as a stream (read
  // line by line by the batches module). Any other route refuses NDJSON with 415.
  const server = adapter.getInstance();
  server.server.on('checkExpectation', expectationHandler(logger));
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
  // Hooks on every request take Fastify's callback form: an async hook costs a promise each.
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    // Responses of the API are per user and may hold secrets (a new key, a webhook secret): no
    // cache may keep them. Problem documents outside the prefix get the same header from ProblemFilter.
    if (request.url.startsWith(API_ROUTES)) reply.header('cache-control', 'no-store');
    // Draining: every answer ends its connection, so a client's next request opens a new one,
    // which the load balancer sends elsewhere (a kept-alive connection would stay pinned here).
    if (lifecycle.draining) reply.header('connection', 'close');
    if (lifecycle.closing) {
      reply.header('connection', 'close');
      return done(
        new DomainError('SERVICE_UNAVAILABLE', 'This instance is shutting down; send the request again', {
          headers: { 'Retry-After': '1' },
        }),
      );
    }
    // ROLE=worker listens only for its probes; the API belongs to api/all pods.
    if (!config.runsApi && !WORKER_ROUTES.test(request.url)) {
      return done(new DomainError('NOT_FOUND', `ROLE=${config.role} serves only /${API_PREFIX}/health`));
    }
    done();
  });
  // Before any recursive walk (validation pipe, Ajv, JSON.stringify) and before PostgreSQL: one
  // iterative scan refuses strings the database cannot store (NUL, lone UTF-16 surrogates: 400) and
  // nesting past JSON_MAX_DEPTH (422), naming the field. NDJSON batch lines are scanned one by one
  // in the batches module. A JSON batch's items count their levels from themselves, like an NDJSON
  // line or a POST /jobs body, so the same item is accepted in either form.
  const maxDepth = config.limits.jsonMaxDepth;
  // Statements a handler runs carry its route in a slow-query warning. In preHandler, after the
  // body is read (a stream's events would run outside a context set earlier); the handler runs
  // inside `done`.
  fastify.addHook('preHandler', (request, _reply, done) => {
    runFor({ route: request.routeOptions.url ?? 'unmatched', method: request.method }, done);
  });
  fastify.addHook('preValidation', (request, _reply, done) => {
    const batch = request.routeOptions.url === BATCHES_ROUTE && request.method === 'POST';
    const problem =
      scanJson(request.query, { maxDepth, prefix: 'query' }) ??
      (request.body instanceof Readable ? undefined : scanJson(request.body, { maxDepth, topLevel: batch ? -1 : 1 }));
    done(problem ? jsonProblemError(problem, maxDepth) : undefined);
  });
  // Read-your-writes with replicas: a client's successful write is recorded (in Redis, for every
  // instance) before its response leaves, so the client's next read, wherever it lands, waits for a
  // replica that holds it or goes to the primary (Db.reader, WriteMarks). Without replicas, no hook.
  if (config.database.replicas.urls.length > 0) {
    const writeMarks = app.get(WriteMarks);
    fastify.addHook('onSend', async (request, reply) => {
      const userId = request.principal?.userId;
      if (userId && !SAFE_METHODS.has(request.method) && reply.statusCode < 400) await writeMarks.mark(userId);
    });
  }
  // Node's server.close() ends the idle connections once; a connection still answering a request
  // that began before the drain stays open after it (keep-alive, up to keepAliveTimeout: 72 s),
  // and holds the close. Until the server has closed, such connections are ended once idle.
  let closeIdle: NodeJS.Timeout | undefined;
  fastify.addHook('preClose', (done) => {
    closeIdle = setInterval(() => fastify.server.closeIdleConnections(), 50);
    done();
  });
  fastify.addHook('onClose', (_instance, done) => {
    clearInterval(closeIdle);
    done();
  });
  const access = createAccessLogger(logger);
  const logRequests = access.isLevelEnabled('info');
  const metrics = app.get(MetricsService);
  const observe = metrics.enabled;
  fastify.addHook('onResponse', (request, reply, done) => {
    if (observe)
      metrics.observeRequest(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
    if (logRequests) {
      access.info(
        {
          requestId: request.id,
          method: request.method,
          url: loggableUrl(request.url),
          statusCode: reply.statusCode,
          durationMs: Math.round(reply.elapsedTime * 10) / 10,
          userId: request.principal?.userId,
        },
        'request completed',
      );
    }
    done();
  });

  // nosniff, Referrer-Policy, a CSP for an API (the docs page has its own, see setupSwagger), …
  app.useSecurityHeaders(SECURITY_HEADERS);
  // Last of the request hooks (after the id, the closing and ROLE checks, the security headers):
  // cached reads this process holds are answered here, before Nest (see CacheFastPath).
  fastify.addHook('onRequest', app.get(CacheFastPath).hook);
  // GET /metrics where Prometheus looks for it by default.
  app.setGlobalPrefix(API_PREFIX, { exclude: ['metrics'] });
  app.useGlobalPipes(createValidationPipe());
  if (config.http.swagger) setupSwagger(app);
  await app.init();
  // Once, now that every route is registered: GET /docs/… answer from it (with or without Swagger UI).
  // At start-up rather than on first use: building it (samples included) blocks the event loop for
  // ~100 ms, which the first docs request would otherwise make every request in flight wait.
  if (config.runsApi) app.get(DocsService).load(buildOpenApiDocument(app));
  return app;
}
