import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildStandaloneOpenApiDocument } from '../modules/docs/swagger.js';

/**
 * `npm run openapi:write [file]`: the OpenAPI document /docs-json serves, written as pretty JSON
 * (default docs/openapi.json) without a database, Redis or a listening socket (Nest's preview mode
 * builds the module graph and routes but creates no provider). test/openapi.e2e.spec.ts fails
 * when the committed file and the served document differ.
 */
const target = path.resolve(process.argv[2] ?? 'docs/openapi.json');
const document = await buildStandaloneOpenApiDocument();
writeFileSync(target, `${JSON.stringify(document, null, 2)}\n`);
process.stdout.write(`wrote ${path.relative(process.cwd(), target)}\n`);
