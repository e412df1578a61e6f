import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';

interface Operation {
  operationId?: string;
  summary?: string;
  security?: unknown[];
  responses: Record<string, unknown>;
}

describe('OpenAPI document and Swagger UI', () => {
  let t: TestApp;
  let doc: {
    paths: Record<string, Record<string, Operation>>;
    components: { securitySchemes: Record<string, unknown> };
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
});
