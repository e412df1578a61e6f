import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Db } from '../src/database/db.js';
import { sql } from '../src/database/sql.js';
import { MetricsServer } from '../src/modules/metrics/metrics-server.js';
import { MetricsService } from '../src/modules/metrics/metrics.service.js';
import { createUser, startTestApp, type TestApp } from './helpers/app.js';
import { freePort } from './helpers/ports.js';
import { waitForStatus } from './helpers/conditions.js';
import { Receiver } from './helpers/receiver.js';
import { waitFor } from './helpers/wait.js';

const SLEEP = sql('test.metricsSleep', 'SELECT pg_sleep(0.02)');

const apps: TestApp[] = [];
afterEach(async () => {
  for (const app of apps.splice(0).reverse()) await app.close();
});
afterAll(async () => {
  for (const app of apps.splice(0)) await app.close();
});

async function start(env: Record<string, string>): Promise<TestApp> {
  const app = await startTestApp({ WORKER_POLL_INTERVAL_MS: '100', ...env });
  apps.push(app);
  return app;
}

/** The value of one sample of the exposition text, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const wanted = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (wanted) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

const scrape = async (t: TestApp): Promise<string> => {
  const res = await t.request({ method: 'GET', url: '/metrics' });
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toContain('text/plain');
  return res.text;
};

describe('GET /metrics', () => {
  it('counts requests by route template, jobs from the change feed, statements from the Db provider', async () => {
    const t = await start({ DB_SLOW_QUERY_MS: '1', RATE_LIMIT_PER_MINUTE_FREE: '5' });
    // Pro (600 a minute): its polls and reads never meet the limit; a free user (5) meets it below.
    const user = await createUser(t.db, { tier: 'pro' });
    const created = await t.request({
      method: 'POST',
      url: '/api/v1/jobs',
      key: user.key,
      body: { type: 'echo', input: { a: 1 } },
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    await waitForStatus(t, user.key, `/api/v1/jobs/${id}`, ['completed']);
    // Read until the cache answers: at least one miss (the read that filled it), then a hit.
    await waitFor(
      'a cached read of the job',
      async () => (await t.request({ method: 'GET', url: `/api/v1/jobs/${id}`, key: user.key })).headers['x-cache'],
      (cache) => cache === 'HIT',
    );

    const text = await scrape(t);
    // Route templates, never ids.
    expect(text).not.toContain(id);
    expect(
      sample(text, 'http_requests_total', { method: 'GET', route: '/api/v1/jobs/:id', status_code: '200' }),
    ).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'http_request_duration_seconds_count', { route: '/api/v1/jobs', status_code: '201' })).toBe(1);
    expect(sample(text, 'conveyor_jobs_created_total', { type: 'echo' })).toBe(1);
    expect(sample(text, 'conveyor_jobs_finished_total', { type: 'echo', status: 'completed' })).toBe(1);
    expect(sample(text, 'conveyor_job_duration_seconds_count', { type: 'echo', status: 'completed' })).toBe(1);
    expect(sample(text, 'conveyor_db_statement_duration_seconds_count', { statement: 'queue.claim' })).toBeGreaterThan(
      0,
    );
    expect(sample(text, 'conveyor_db_statement_duration_seconds_count', { statement: 'queue.enqueue' })).toBe(1);
    expect(sample(text, 'conveyor_queue_jobs', { status: 'queued' })).toBe(0);
    expect(sample(text, 'conveyor_queue_oldest_due_seconds')).toBe(0);
    expect(sample(text, 'conveyor_webhook_backlog')).toBe(0);
    expect(sample(text, 'conveyor_webhook_oldest_due_seconds')).toBe(0);
    expect(sample(text, 'conveyor_db_pool_connections', { pool: 'main', state: 'max' })).toBeGreaterThan(0);
    expect(sample(text, 'conveyor_cache_lookups_total', { level: 'store', result: 'miss' })).toBeGreaterThanOrEqual(1);
    const hits =
      (sample(text, 'conveyor_cache_lookups_total', { level: 'l1', result: 'hit' }) ?? 0) +
      (sample(text, 'conveyor_cache_lookups_total', { level: 'store', result: 'hit' }) ?? 0);
    expect(hits).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'conveyor_cache_errors_total', { level: 'store' })).toBe(0);
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);

    // Rate-limit refusals by tier: a free user's limit of 5 is spent by the sixth request.
    const limited = await createUser(t.db);
    for (let i = 0; i < 6; i += 1) await t.request({ method: 'GET', url: '/api/v1/me', key: limited.key });
    expect(sample(await scrape(t), 'conveyor_rate_limit_refusals_total', { tier: 'free' })).toBeGreaterThan(0);
  });

  it('counts slow statements, needs no key, is never rate-limited, and is served by workers too', async () => {
    const t = await start({ ROLE: 'worker', DB_SLOW_QUERY_MS: '5' });
    for (let i = 0; i < 3; i += 1) await scrape(t);
    expect((await t.request({ method: 'GET', url: '/api/v1/jobs' })).status).toBe(404);
    await t.app.get(Db).query(SLEEP);
    const text = await scrape(t);
    expect(sample(text, 'http_requests_total', { route: '/metrics', status_code: '200' })).toBeGreaterThanOrEqual(3);
    expect(sample(text, 'conveyor_db_slow_statements_total', { statement: 'test.metricsSleep' })).toBe(1);
  });

  it('counts webhook attempts by outcome with their lag, and quota refusals by kind', async () => {
    const receiver = await Receiver.start();
    try {
      const t = await start({
        WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
        WEBHOOK_ALLOW_HTTP: 'true',
        WEBHOOK_POLL_INTERVAL_MS: '50',
        CREDITS_MONTHLY_FREE: '1',
      });
      const user = await createUser(t.db);
      const hook = await t.request({
        method: 'POST',
        url: '/api/v1/webhooks',
        key: user.key,
        body: { url: `${receiver.url}/hook`, events: ['job.completed'] },
      });
      expect(hook.status, hook.text).toBe(201);
      const job = await t.request({
        method: 'POST',
        url: '/api/v1/jobs',
        key: user.key,
        body: { type: 'echo', input: {} },
      });
      expect(job.status).toBe(201);
      // The month's one credit is spent: the next submission is refused.
      const refused = await t.request({
        method: 'POST',
        url: '/api/v1/jobs',
        key: user.key,
        body: { type: 'echo', input: {} },
      });
      expect(refused.status).toBe(429);
      await waitFor(
        'the job.completed delivery',
        () => receiver.requests.length,
        (n) => n >= 1,
      );
      await waitFor(
        'the attempt to be counted',
        async () => sample(await scrape(t), 'conveyor_webhook_attempts_total', { outcome: 'ok', final: 'true' }),
        (n) => n === 1,
      );
      const text = await scrape(t);
      expect(sample(text, 'conveyor_webhook_delivery_lag_seconds_count', { outcome: 'ok' })).toBe(1);
      expect(sample(text, 'conveyor_quota_refusals_total', { kind: 'job' })).toBe(1);
    } finally {
      await receiver.close();
    }
  });

  it('with METRICS_PORT, serves GET /metrics on that port only', async () => {
    const port = await freePort();
    const t = await start({ METRICS_PORT: String(port), HOST: '127.0.0.1' });
    expect(t.app.get(MetricsServer).port).toBe(port);
    expect(
      (
        await t.request({
          method: 'POST',
          url: '/api/v1/jobs',
          key: (await createUser(t.db)).key,
          body: { type: 'echo', input: {} },
        })
      ).status,
    ).toBe(201);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(sample(text, 'http_requests_total', { route: '/api/v1/jobs', method: 'POST', status_code: '201' })).toBe(1);
    expect((await fetch(`http://127.0.0.1:${port}/api/v1/jobs`)).status).toBe(404);
    // Off the API's port.
    expect((await t.request({ method: 'GET', url: '/metrics' })).status).toBe(404);
    await t.app.close();
    apps.splice(apps.indexOf(t), 1);
    await t.db.drop();
    // Closed with the app.
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  it('with METRICS_ENABLED=false, serves no metrics and observes nothing', async () => {
    const t = await start({ METRICS_ENABLED: 'false' });
    expect((await t.request({ method: 'GET', url: '/metrics' })).status).toBe(404);
    const metrics = t.app.get(MetricsService);
    await t.request({ method: 'GET', url: '/api/v1/health/live' });
    expect(await metrics.metrics()).not.toContain('http_requests_total{');
    expect(await metrics.metrics()).not.toContain('process_cpu_seconds_total');
  });
});
