import type { INestApplication } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import { DOCS_CONTENT_SECURITY_POLICY } from '../../common/http/security-headers.js';
import { APP_VERSION } from '../../config/config.js';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Conveyor API')
    .setDescription(
      'Self-hosted asynchronous jobs API: submit jobs, batches and pipelines; track progress; download results; ' +
        'receive signed webhooks. Errors are RFC 9457 `application/problem+json` with a `code` from the catalog.',
    )
    .setVersion(APP_VERSION)
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', description: 'An API key: `Authorization: Bearer cvk_…`' },
      'bearer',
    )
    .build();
  // operationIds are set on every operation explicitly; the factory is only a fallback that keeps them stable.
  return SwaggerModule.createDocument(app, config, { operationIdFactory: (_controller, method) => method });
}

const DOCS_UI = /^\/docs(\/|$|\?)/;

/**
 * Swagger UI at `/docs`, the OpenAPI JSON at `/docs-json`. The UI's page and assets get a CSP that
 * lets the page run (every other response has the API's, which loads nothing).
 */
export function setupSwagger(app: INestApplication): void {
  const fastify = app.getHttpAdapter().getInstance() as FastifyInstance;
  fastify.addHook('onRequest', async (request, reply) => {
    if (DOCS_UI.test(request.url)) reply.header('content-security-policy', DOCS_CONTENT_SECURITY_POLICY);
  });
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: 'docs-json',
    yamlDocumentUrl: 'docs-yaml',
    useGlobalPrefix: false,
    customSiteTitle: 'Conveyor API',
  });
}
