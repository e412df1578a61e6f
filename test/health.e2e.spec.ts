import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revertLastMigration, runMigrations } from '../src/database/migrator.js';
import { startTestApp, type TestApp } from './helpers/app.js';

describe('health probes', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  it('live answers 200 without an API key', async () => {
    const res = await t.request({ method: 'GET', url: '/api/v1/health/live' });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ok');
  });

  it('ready is 200 with the database up and migrations applied', async () => {
    const res = await t.request({ method: 'GET', url: '/api/v1/health/ready' });
    expect(res.status).toBe(200);
    expect(res.body.details).toMatchObject({
      database: { status: 'up' },
      migrations: { status: 'up' },
      lifecycle: { status: 'up' },
    });
  });

  it('ready is 503 while draining, live stays 200', async () => {
    t.lifecycle.draining = true;
    try {
      const res = await t.request({ method: 'GET', url: '/api/v1/health/ready' });
      expect(res.status).toBe(503);
      expect(res.body.details.lifecycle.status).toBe('down');
      expect((await t.request({ method: 'GET', url: '/api/v1/health/live' })).status).toBe(200);
    } finally {
      t.lifecycle.draining = false;
    }
  });
});

describe('readiness with pending migrations', () => {
  it('is 503 until the schema is current', async () => {
    const t = await startTestApp();
    try {
      await revertLastMigration(t.db.url);
      const res = await t.request({ method: 'GET', url: '/api/v1/health/ready' });
      expect(res.status).toBe(503);
      expect(res.body.details.migrations.status).toBe('down');
      await runMigrations(t.db.url);
      expect((await t.request({ method: 'GET', url: '/api/v1/health/ready' })).status).toBe(200);
    } finally {
      await t.close();
    }
  });
});

describe('ROLE=worker', () => {
  it('serves the health probes and nothing of the API', async () => {
    const t = await startTestApp({ ROLE: 'worker' });
    try {
      expect((await t.request({ method: 'GET', url: '/api/v1/health/ready' })).status).toBe(200);
      expect((await t.request({ method: 'GET', url: '/api/v1/health/live' })).status).toBe(200);
      for (const url of ['/api/v1/me', '/api/v1/jobs', '/docs-json']) {
        const res = await t.request({ method: 'GET', url });
        expect(res.status, url).toBe(404);
        expect(res.body.code).toBe('NOT_FOUND');
        expect(res.headers['x-request-id']).toBeDefined();
      }
    } finally {
      await t.close();
    }
  });
});
