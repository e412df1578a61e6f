import { gzipSync } from 'node:zlib';
import { negotiate } from '@fastify/accept-negotiator';
import type { INestApplication } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import { DocsService } from './docs.service.js';
import { DOCS_CONTENT_SECURITY_POLICY } from '../../common/http/security-headers.js';
import { APP_VERSION } from '../../config/config.js';
import { addCodeSamples } from './code-samples.js';
import { finishDocument } from './openapi-finish.js';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Conveyor API')
    .setDescription(
      'Self-hosted asynchronous jobs API: submit jobs, batches and pipelines; track progress; download results; ' +
        'receive signed webhooks. Errors are RFC 9457 `application/problem+json` with a `code` from the catalog.',
    )
    .setVersion(APP_VERSION)
    // Relative: the document describes whichever host serves it.
    .addServer('/', 'The server that serves this document')
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        // Opaque keys, not JWTs (Nest's default bearerFormat).
        bearerFormat: 'API key',
        description: 'An API key: `Authorization: Bearer cvk_…`',
      },
      'bearer',
    )
    .build();
  // operationIds are set on every operation explicitly; the factory is only a fallback that keeps them stable.
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (_controller, method) => method,
  });
  // OpenAPI 3.1, problems, headers, examples, closed request bodies: see openapi-finish.ts.
  return addCodeSamples(finishDocument(document));
}

/**
 * The same document without a running app: Nest's preview mode builds the module graph and the
 * routes but creates no provider, so no database, Redis or socket is needed (`npm run openapi:write`).
 */
export async function buildStandaloneOpenApiDocument(): Promise<OpenAPIObject> {
  // Imported here: app.factory imports this file.
  const [{ NestFactory }, { FastifyAdapter }, { AppModule }, { API_PREFIX }, { loadConfig }] = await Promise.all([
    import('@nestjs/core'),
    import('@nestjs/platform-fastify'),
    import('../../app.module.js'),
    import('../../app.factory.js'),
    import('../../config/config.js'),
  ]);
  const app = await NestFactory.create(AppModule.register(loadConfig({})), new FastifyAdapter(), {
    preview: true,
    logger: false,
  });
  app.setGlobalPrefix(API_PREFIX, { exclude: ['metrics'] });
  try {
    return buildOpenApiDocument(app);
  } finally {
    await app.close();
  }
}

const DOCS_UI = /^\/docs(\/|$|\?)/;
/** The document itself (~600 KB of JSON with nine languages of samples per operation; ~50 KB gzipped). */
const DOCS_DOCUMENT = /^\/docs-(json|yaml)(\?|$)/;

/**
 * Swagger UI at `/docs`, the OpenAPI JSON at `/docs-json`. The UI's page and assets get a CSP that
 * lets the page run (every other response has the API's, which loads nothing).
 */
export function setupSwagger(app: INestApplication): void {
  const fastify = app.getHttpAdapter().getInstance() as FastifyInstance;
  fastify.addHook('onRequest', async (request, reply) => {
    if (DOCS_UI.test(request.url)) reply.header('content-security-policy', DOCS_CONTENT_SECURITY_POLICY);
  });
  // The document is sent gzipped to clients that accept it (Swagger UI's browser does): 12× fewer
  // bytes on every page load. By hand rather than @fastify/compress: the document does not change
  // in a process's life, so it is compressed once per format (not on every request), and no API
  // response's path or bench figure is touched by a global compression hook.
  const gzipped = new Map<string, { source: string; body: Buffer }>();
  fastify.addHook('onSend', async (request, reply, payload) => {
    const format = DOCS_DOCUMENT.exec(request.url)?.[1];
    if (!format || reply.statusCode !== 200 || typeof payload !== 'string') return payload;
    const vary = reply.getHeader('vary');
    if (!/\baccept-encoding\b/i.test(String(vary ?? ''))) {
      void reply.header('vary', vary ? `${String(vary)}, accept-encoding` : 'accept-encoding');
    }
    // Negotiated (q-values honoured: `gzip;q=0` refuses it), not matched by name.
    if (negotiate(request.headers['accept-encoding'] ?? '', ['gzip', 'identity']) !== 'gzip') return payload;
    let entry = gzipped.get(format);
    if (entry?.source !== payload) {
      entry = { source: payload, body: gzipSync(payload) };
      gzipped.set(format, entry);
    }
    void reply.header('content-encoding', 'gzip');
    reply.removeHeader('content-length');
    return entry.body;
  });
  // The document DocsService was given at start-up (app.factory), so it is built once; the
  // instance builds its own only if that did not happen (ROLE=worker serves no docs anyway).
  const document = (): OpenAPIObject => {
    const docs = app.get(DocsService, { strict: false });
    return docs.loadedDocument() ?? buildOpenApiDocument(app);
  };
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs-json',
    yamlDocumentUrl: 'docs-yaml',
    useGlobalPrefix: false,
    customSiteTitle: 'Conveyor API',
  });
}
