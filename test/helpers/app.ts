import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Writable } from 'node:stream';
import { createApp } from '../../src/app.factory.js';
import { LifecycleState } from '../../src/common/lifecycle/lifecycle.state.js';
import { createLogger } from '../../src/common/logging/logger.js';
import { loadConfig } from '../../src/config/config.js';
import { generateApiKey } from '../../src/modules/auth/api-key.util.js';
import { buildOpenApiDocument } from '../../src/modules/docs/swagger.js';
import { Contract, ContractViolation } from './contract.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { TEST_SECRETS_KEY } from './process.js';

export interface TestApp {
  app: NestFastifyApplication;
  db: TestDatabase;
  lifecycle: LifecycleState;
  /** Every log line the app wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  /**
   * A request through the real Fastify stack (no socket). The response must conform to the OpenAPI
   * document (status, content type, required headers, body schema): a violation throws
   * ContractViolation. `contract: false` only for a request built to get an answer no operation
   * documents.
   */
  request(options: {
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
    url: string;
    key?: string;
    body?: unknown;
    payload?: string;
    headers?: Record<string, string>;
    contract?: false;
  }): Promise<{ status: number; body: any; headers: Record<string, unknown>; text: string }>;
  close(): Promise<void>;
}

export interface TestUser {
  id: string;
  key: string;
  keyId: string;
}

/**
 * Per-minute limits no test reaches by accident (tests poll and loop far faster than a client
 * should); the limiter still runs on every request. test/rate-limit.e2e.spec.ts sets its own.
 */
export const UNLIMITED_RATES = {
  RATE_LIMIT_PER_MINUTE_FREE: '100000000',
  RATE_LIMIT_PER_MINUTE_PRO: '100000000',
  RATE_LIMIT_PER_MINUTE_ENTERPRISE: '100000000',
};

/**
 * Starts the real app on a database of its own (or on `shared`, as a second instance of the same
 * deployment: then `close()` leaves the database alone). `env` overrides configuration variables.
 */
export async function startTestApp(env: Record<string, string> = {}, shared?: TestDatabase): Promise<TestApp> {
  const db = shared ?? (await createTestDatabase());
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line));
      done();
    },
  });
  const config = loadConfig({
    LOG_LEVEL: 'info',
    SECRETS_ENCRYPTION_KEY: TEST_SECRETS_KEY,
    ...UNLIMITED_RATES,
    ...env,
    DATABASE_URL: db.url,
  });
  const lifecycle = new LifecycleState();
  // A non-empty users table, so the bootstrap admin (and its stdout banner) is not created.
  if (!shared) await db.pool.query(`INSERT INTO users (name, email, role) VALUES ('seed', 'seed@test.local', 'user')`);
  const app = await createApp(config, createLogger(config.logLevel, sink), lifecycle);
  await app.getHttpAdapter().getInstance().ready();
  // Now, not in a test's first request: building the document and compiling its schemas blocks
  // the event loop for a while, which would skew tests that time requests (rate limits).
  contractOf(app);
  return {
    app,
    db,
    lifecycle,
    logs,
    async request({ method, url, key, body, payload, headers, contract: check }) {
      const response = await app.inject({
        method,
        url,
        headers: {
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        payload: payload ?? (body !== undefined ? JSON.stringify(body) : undefined),
      });
      let parsed: unknown;
      try {
        parsed = response.body ? JSON.parse(response.body) : undefined;
      } catch {
        parsed = undefined;
      }
      const result = { status: response.statusCode, body: parsed, headers: response.headers, text: response.body };
      if (check !== false) {
        const violations = contractOf(app).violations(method, url, result);
        if (violations.length > 0) throw new ContractViolation(method, url, violations);
      }
      return result;
    },
    async close() {
      await app.close();
      if (!shared) await db.drop();
    },
  };
}

/** The document is the same for every app of a test file (no configuration enters it): built once. */
let contract: Contract | undefined;
function contractOf(app: NestFastifyApplication): Contract {
  return (contract ??= new Contract(buildOpenApiDocument(app) as unknown as Record<string, unknown>));
}

let counter = 0;

/** A user with an API key, inserted directly (the factory of every test). */
export async function createUser(
  db: TestDatabase,
  options: { role?: 'user' | 'admin'; tier?: 'free' | 'pro' | 'enterprise' } = {},
): Promise<TestUser> {
  counter += 1;
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO users (name, email, role, tier) VALUES ($1, $2, $3, $4) RETURNING id`,
    [`user ${counter}`, `user-${counter}-${Date.now()}@test.local`, options.role ?? 'user', options.tier ?? 'free'],
  );
  const { key, hash, prefix } = generateApiKey();
  const keyRow = await db.pool.query<{ id: string }>(
    `INSERT INTO api_keys (user_id, name, key_hash, prefix) VALUES ($1, 'test', $2, $3) RETURNING id`,
    [rows[0].id, hash, prefix],
  );
  return { id: rows[0].id, key, keyId: keyRow.rows[0].id };
}
