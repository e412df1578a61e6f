import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';
import { Contract } from './helpers/contract.js';
import { ValidatingProxy } from './helpers/validating-proxy.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

interface Media {
  schema?: Record<string, unknown>;
  example?: unknown;
}

interface Operation {
  operationId?: string;
  summary?: string;
  description?: string;
  security?: unknown[];
  parameters?: Array<{ name: string; in: string; schema?: Record<string, unknown> }>;
  requestBody?: { content: Record<string, Media> };
  responses: Record<string, { description?: string; content?: Record<string, Media>; headers?: object }>;
}

describe('OpenAPI document and Swagger UI', () => {
  let t: TestApp;
  let doc: {
    openapi: string;
    paths: Record<string, Record<string, Operation>>;
    tags: Array<{ name: string; description?: string }>;
    servers: Array<{ url: string }>;
    components: { securitySchemes: Record<string, unknown>; schemas: Record<string, any> };
  };

  beforeAll(async () => {
    t = await startTestApp();
    doc = (await t.request({ method: 'GET', url: '/docs-json' })).body;
  });
  afterAll(async () => t.close());

  const operations = (): Array<[string, string, Operation]> =>
    Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => [path, method, op] as [string, string, Operation]),
    );

  it('serves Swagger UI at /docs without a key', async () => {
    const res = await t.request({ method: 'GET', url: '/docs' });
    expect(res.status).toBe(200);
    expect(res.text).toContain('swagger');
  });

  it('sends the document gzipped to a client that accepts it (compressed once), plain to one that does not', async () => {
    for (const url of ['/docs-json', '/docs-yaml']) {
      const plain = await t.app.inject({ method: 'GET', url });
      expect(plain.statusCode).toBe(200);
      expect(plain.headers['content-encoding']).toBeUndefined();
      expect(plain.headers.vary).toContain('accept-encoding');
      for (let i = 0; i < 2; i += 1) {
        const zipped = await t.app.inject({ method: 'GET', url, headers: { 'accept-encoding': 'gzip, deflate, br' } });
        expect(zipped.statusCode).toBe(200);
        expect(zipped.headers['content-encoding']).toBe('gzip');
        expect(zipped.rawPayload.length).toBeLessThan(plain.rawPayload.length / 5);
        expect(gunzipSync(zipped.rawPayload).toString('utf8')).toBe(plain.payload);
      }
      const refused = await t.app.inject({ method: 'GET', url, headers: { 'accept-encoding': 'gzip;q=0, identity' } });
      expect(refused.headers['content-encoding']).toBeUndefined();
      expect(refused.payload).toBe(plain.payload);
    }
  });

  it('declares the bearer scheme', () => {
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('every operation has a unique operationId and a summary', () => {
    const ids = operations().map(([, , op]) => op.operationId);
    expect(ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(operations().every(([, , op]) => op.summary)).toBe(true);
  });

  it('authenticated operations declare bearer security and document 401 as problem+json', () => {
    for (const [path, method, op] of operations()) {
      // The probes are public; the operators' detailed view is not.
      if (path.startsWith('/api/v1/health') && path !== '/api/v1/health/detailed') {
        expect(op.security ?? [], `${method} ${path}`).toEqual([]);
        continue;
      }
      expect(op.security, `${method} ${path}`).toEqual([{ bearer: [] }]);
      expect(op.responses['401'], `${method} ${path}`).toMatchObject({
        content: { 'application/problem+json': expect.anything() },
      });
    }
  });

  it('admin operations document 403; operations with a path id document 404 or 400', () => {
    for (const [path, method, op] of operations()) {
      if (path.startsWith('/api/v1/admin')) expect(op.responses['403'], `${method} ${path}`).toBeDefined();
      if (path.includes('{id}')) expect(op.responses['400'], `${method} ${path}`).toBeDefined();
    }
  });

  it('lists every route the app serves', () => {
    const paths = Object.keys(doc.paths);
    for (const expected of [
      '/api/v1/admin/users',
      '/api/v1/admin/users/{id}',
      '/api/v1/admin/users/{id}/api-keys',
      '/api/v1/admin/api-keys/{id}',
      '/api/v1/me',
      '/api/v1/me/api-keys',
      '/api/v1/me/api-keys/{id}',
      '/api/v1/health/live',
      '/api/v1/health/ready',
    ]) {
      expect(paths).toContain(expected);
    }
  });

  it('docs/openapi.json is the document the app serves (npm run openapi:write writes it)', () => {
    const committed = JSON.parse(readFileSync(new URL('../docs/openapi.json', import.meta.url), 'utf8'));
    expect(committed, 'docs/openapi.json is stale: run `npm run openapi:write` and commit it').toEqual(doc);
  });

  it('is OpenAPI 3.1: a nullable reference is oneOf [$ref, null], so "error": null conforms', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(JSON.stringify(doc)).not.toContain('"nullable"');
    expect(doc.components.schemas.JobResponseDto.properties.error).toEqual({
      oneOf: [{ $ref: '#/components/schemas/JobErrorDto' }, { type: 'null' }],
    });
    const contract = new Contract(doc);
    const job = contract.validator({ $ref: '#/components/schemas/JobResponseDto' });
    const example = doc.paths['/api/v1/jobs/{id}'].get.responses['200'].content!['application/json'].example as object;
    expect(job({ ...example, error: null })).toBe(true);
    expect(job({ ...example, error: { code: 'TIMEOUT', message: 'too slow' } })).toBe(true);
    expect(job({ ...example, error: 'TIMEOUT' })).toBe(false);
  });

  it('declares its tags and a relative server; the bearer scheme is an opaque API key', () => {
    const used = new Set(operations().flatMap(([, , op]) => (op as { tags?: string[] }).tags ?? []));
    for (const tag of used) expect(doc.tags.find((t) => t.name === tag)?.description, tag).toBeTruthy();
    expect(doc.servers).toEqual([expect.objectContaining({ url: '/' })]);
    expect(doc.components.securitySchemes.bearer).toMatchObject({ bearerFormat: 'API key' });
  });

  it('every operation has a description; every success response a description and an example per content type', () => {
    for (const [path, method, op] of operations()) {
      expect(op.description, `${method} ${path}`).toBeTruthy();
      for (const [status, response] of Object.entries(op.responses)) {
        expect(response.description, `${method} ${path} ${status}`).toBeTruthy();
        if (!status.startsWith('2')) continue;
        for (const [type, media] of Object.entries(response.content ?? {})) {
          expect(media.example, `${method} ${path} ${status} ${type}`).toBeDefined();
        }
      }
      for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
        expect(media.example, `${method} ${path} request ${type}`).toBeDefined();
      }
    }
  });

  it('every example conforms to its schema', () => {
    const contract = new Contract(doc);
    const media = operations().flatMap(([path, method, op]) => [
      ...Object.entries(op.requestBody?.content ?? {}).map(
        ([type, m]) => [`${method} ${path} request ${type}`, m] as const,
      ),
      ...Object.entries(op.responses).flatMap(([status, r]) =>
        Object.entries(r.content ?? {}).map(([type, m]) => [`${method} ${path} ${status} ${type}`, m] as const),
      ),
    ]);
    expect(media.length).toBeGreaterThan(100);
    for (const [where, m] of media) {
      if (!m.schema || m.example === undefined) continue;
      const validate = contract.validator(m.schema);
      expect(validate(m.example), `${where}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });

  it('every operation documents 500 and 503; authenticated ones 429 with Retry-After (but the docs and the detailed health, never limited); public ones say security: []', () => {
    const unlimited: string[] = [];
    for (const [path, method, op] of operations()) {
      expect(Object.keys(op.responses), `${method} ${path}`).toEqual(expect.arrayContaining(['500', '503']));
      for (const response of Object.values(op.responses)) {
        expect(response.headers, `${method} ${path}`).toHaveProperty('X-Request-Id');
      }
      if (!op.security?.length) {
        expect(op.security, `${method} ${path}`).toEqual([]);
      } else if (op.description?.includes('Not counted against the rate limit')) {
        unlimited.push(path);
        expect(op.responses['429'], `${method} ${path}`).toBeUndefined();
        expect(op.responses['200']?.headers, `${method} ${path}`).not.toHaveProperty('RateLimit');
        expect(JSON.stringify(op), `${method} ${path}`).not.toContain('x-not-rate-limited');
      } else {
        expect(op.responses['429']?.headers, `${method} ${path}`).toHaveProperty('Retry-After');
      }
    }
    expect(unlimited.sort()).toEqual([
      '/api/v1/docs/api/overview',
      '/api/v1/docs/endpoints/{name}',
      '/api/v1/docs/errors',
      '/api/v1/health/detailed',
    ]);
    expect(doc.paths['/api/v1/jobs'].post.responses['201'].headers).toHaveProperty('Idempotent-Replayed');
  });

  it('path ids are UUIDs; request bodies refuse unknown fields and carry no default (generated types would require it)', () => {
    for (const [path, method, op] of operations()) {
      for (const parameter of op.parameters ?? []) {
        if (parameter.in === 'path' && (parameter.name === 'id' || parameter.name === 'deliveryId')) {
          expect(parameter.schema, `${method} ${path} ${parameter.name}`).toMatchObject({ format: 'uuid' });
        }
      }
    }
    for (const name of ['CreateJobDto', 'CreateUserDto', 'CreateWebhookDto', 'CreatePipelineDto', 'BatchItemDto']) {
      const schema = doc.components.schemas[name];
      expect(schema.additionalProperties, name).toBe(false);
      expect(JSON.stringify(schema), name).not.toContain('"default"');
    }
  });

  it('documents the NDJSON upload and the JSON Lines / CSV download as text', () => {
    const upload = doc.paths['/api/v1/batches'].post.requestBody!.content['application/x-ndjson'];
    expect(upload.schema).toMatchObject({ type: 'string' });
    const download = doc.paths['/api/v1/batches/{id}/results'].get.responses['200'].content!;
    expect(Object.keys(download).sort()).toEqual(['application/x-ndjson', 'text/csv']);
    for (const media of Object.values(download)) expect(media.schema).toMatchObject({ type: 'string' });
    const malformedLine = doc.paths['/api/v1/batches'].post.responses['422'].description;
    expect(malformedLine).toMatch(/NDJSON/);
    expect(doc.paths['/api/v1/batches'].post.responses['400'].description).not.toMatch(
      /malformed NDJSON\b(?! line is a 422)/,
    );
  });

  it('the contract check of request() catches what departs from the document', () => {
    const contract = new Contract(doc);
    const job = doc.paths['/api/v1/jobs/{id}'].get.responses['200'].content!['application/json'].example;
    const ok = {
      status: 200,
      headers: { 'content-type': 'application/json; charset=utf-8', 'x-request-id': 'r' },
      body: job,
      text: JSON.stringify(job),
    };
    const url = '/api/v1/jobs/0b5c2f0e-8d1a-4c55-9a43-2f6f1b7f0c11';
    expect(contract.violations('GET', url, ok)).toEqual([]);
    expect(contract.violations('GET', url, { ...ok, status: 418 })).toEqual([
      expect.stringContaining('status not documented'),
    ]);
    expect(contract.violations('GET', url, { ...ok, headers: { ...ok.headers, 'content-type': 'text/html' } })).toEqual(
      [expect.stringContaining('content type "text/html" not documented')],
    );
    expect(contract.violations('GET', url, { ...ok, headers: { 'content-type': 'application/json' } })).toEqual([
      expect.stringContaining('required header X-Request-Id missing'),
    ]);
    const { status: _dropped, ...withoutStatus } = job as Record<string, unknown>;
    expect(contract.violations('GET', url, { ...ok, body: withoutStatus })).toEqual([
      expect.stringContaining("must have required property 'status'"),
    ]);
    // Static segments before parameters, as the router matches them.
    expect(contract.route('GET', '/api/v1/webhooks/event-types')?.template).toBe('/api/v1/webhooks/event-types');
  });

  it('the validating proxy passes answers through unchanged and records those that depart from the document', async () => {
    const job = doc.paths['/api/v1/jobs/{id}'].get.responses['200'].content!['application/json'].example as Record<
      string,
      unknown
    >;
    // A real server behind the proxy: a conforming job, then the same job without its status.
    let broken = false;
    const upstream = http.createServer((req, res) => {
      const { status: _dropped, ...withoutStatus } = job;
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'x-request-id': 'r' });
      res.end(JSON.stringify(broken ? withoutStatus : job));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const proxy = await ValidatingProxy.start(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
    try {
      const url = `${proxy.url}/api/v1/jobs/0b5c2f0e-8d1a-4c55-9a43-2f6f1b7f0c11`;
      const first = await fetch(url);
      expect(first.status).toBe(200);
      expect(await first.json()).toEqual(job);
      expect(first.headers.get('x-request-id')).toBe('r');
      expect(proxy.violations).toEqual([]);
      expect(() => proxy.expectConforming()).not.toThrow();
      broken = true;
      expect((await fetch(url)).status).toBe(200);
      expect(proxy.violations).toEqual([expect.stringContaining("must have required property 'status'")]);
      expect(() => proxy.expectConforming()).toThrow(/1 of 2 answers/);
      // A request no operation of the document answers is one too; a HEAD is checked as its GET.
      expect((await fetch(`${proxy.url}/api/v1/no-such-thing`)).status).toBe(200);
      expect(proxy.violations[1]).toMatch(/GET \/api\/v1\/no-such-thing → 200: no operation of the document/);
      broken = false;
      expect((await fetch(url, { method: 'HEAD' })).status).toBe(200);
      expect(proxy.violations).toHaveLength(2);
    } finally {
      await proxy.close();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });
});
