import type { INestApplication } from '@nestjs/common';
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

/** Swagger UI at `/docs`, the OpenAPI JSON at `/docs-json`. */
export function setupSwagger(app: INestApplication): void {
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: 'docs-json',
    yamlDocumentUrl: 'docs-yaml',
    useGlobalPrefix: false,
    customSiteTitle: 'Conveyor API',
  });
}
