import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';
import { EnvSchema } from './env.schema.js';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config.http.port).toBe(3000);
    expect(config.role).toBe('all');
    expect(config.database.url).toBeUndefined();
    expect(config.redisUrl).toBeUndefined();
    expect(config.http.bodyLimitBytes).toBe(1_048_576);
    expect(config.http.swagger).toBe(true);
    expect(config.runsApi && config.runsWorker).toBe(true);
  });

  it('coerces numbers and booleans', () => {
    const config = loadConfig({ PORT: '8080', SWAGGER_ENABLED: 'false', ROLE: 'worker' });
    expect(config.http.port).toBe(8080);
    expect(config.http.swagger).toBe(false);
    expect(config.runsApi).toBe(false);
    expect(config.runsWorker).toBe(true);
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', PORT: '' }).http.port).toBe(3000);
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ ROLE: 'scheduler' }, 'ROLE'],
    [{ DATABASE_URL: 'mysql://localhost/x' }, 'DATABASE_URL'],
    [{ REDIS_URL: 'http://localhost' }, 'REDIS_URL'],
    [{ ADMIN_API_KEY: 'short' }, 'ADMIN_API_KEY'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ SWAGGER_ENABLED: 'maybe' }, 'SWAGGER_ENABLED'],
    [{ BODY_LIMIT_BYTES: '10' }, 'BODY_LIMIT_BYTES'],
    [{ JSON_MAX_DEPTH: '1000' }, 'JSON_MAX_DEPTH'],
    [{ METADATA_LIMIT_BYTES: '10' }, 'METADATA_LIMIT_BYTES'],
  ])('rejects %j with a message naming %s', (env, variable) => {
    const found = problems(env);
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((p) => p.startsWith(variable))).toBe(true);
  });

  it('reports every bad variable at once', () => {
    const found = problems({ PORT: 'x', ROLE: 'y' });
    expect(found.some((p) => p.startsWith('PORT'))).toBe(true);
    expect(found.some((p) => p.startsWith('ROLE'))).toBe(true);
  });

  it('reads the webhook retry schedule and durations; rejects malformed ones', () => {
    const config = loadConfig({ WEBHOOK_RETRY_SCHEDULE: '500ms,2s,5m,1h,1d', WEBHOOK_DISABLE_AFTER: '36h' });
    expect(config.webhooks.retryScheduleMs).toEqual([500, 2000, 300_000, 3_600_000, 86_400_000]);
    expect(config.webhooks.disableAfterMs).toBe(36 * 3_600_000);
    expect(loadConfig({}).webhooks.retryScheduleMs).toHaveLength(10);
    const found = problems({ WEBHOOK_RETRY_SCHEDULE: '1s,,2s', WEBHOOK_DISABLE_AFTER: '5 days' });
    expect(found.some((p) => p.startsWith('WEBHOOK_RETRY_SCHEDULE'))).toBe(true);
    expect(found.some((p) => p.startsWith('WEBHOOK_DISABLE_AFTER'))).toBe(true);
  });

  it('requires SECRETS_ENCRYPTION_KEY in production, and a 32-byte base64 key when given', () => {
    expect(problems({ NODE_ENV: 'production' }).join()).toContain('SECRETS_ENCRYPTION_KEY is required');
    expect(problems({ SECRETS_ENCRYPTION_KEY: 'c2hvcnQ=' }).join()).toContain(
      'SECRETS_ENCRYPTION_KEY must be 32 bytes',
    );
    const key = Buffer.alloc(32, 1).toString('base64');
    expect(loadConfig({ NODE_ENV: 'production', SECRETS_ENCRYPTION_KEY: key }).secrets.key).toBe(key);
  });

  it('accepts the URLs Conveyor itself builds', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://postgres@127.0.0.1:54329/conveyor',
      REDIS_URL: 'redis://127.0.0.1:6379',
    });
    expect(config.database.url).toBe('postgres://postgres@127.0.0.1:54329/conveyor');
  });
});

describe('.env.example', () => {
  const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
  const entries = new Map(
    example
      .split('\n')
      .map((line) => /^#?\s*([A-Z][A-Z0-9_]+)=(.*)$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1], m[2].trim()]),
  );

  it('lists every variable of the schema, each with a comment, and nothing else', () => {
    const schema = Object.keys(new EnvSchema()).sort();
    expect([...entries.keys()].sort()).toEqual(schema);
    for (const name of schema) {
      const line = example.split('\n').findIndex((l) => new RegExp(`^#?\\s*${name}=`).test(l));
      expect(example.split('\n')[line - 1], `comment above ${name}`).toMatch(/^#/);
    }
  });

  it('shows the real default of each variable', () => {
    const defaults = new EnvSchema() as unknown as Record<string, unknown>;
    for (const [name, value] of entries) {
      const expected = defaults[name] === undefined ? '' : String(defaults[name]);
      expect(value, name).toBe(expected);
    }
  });
});
