import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { setTimeout } from 'node:timers/promises';
import Fastify from 'fastify';
import pg from 'pg';
import { createApp } from '../src/app.factory.js';
import { createLogger } from '../src/common/logging/logger.js';
import { loadConfig } from '../src/config/config.js';
import { runMigrations } from '../src/database/migrator.js';
import { generateApiKey } from '../src/modules/auth/api-key.util.js';
import { benchDatabase } from './lib/database.js';
import { loadDurations, measure, type LoadFigures } from './lib/load.js';
import { emitResult, runBench } from './lib/protocol.js';
import { BENCH_RATE_LIMITS } from './lib/service.js';

/**
 * Throughput and latency of an authenticated `GET /api/v1/me` on the real application, against a
 * bare Fastify server returning the same bytes from memory: the ratio is what the framework,
 * authentication and the user query cost per request.
 */
const CONNECTIONS = 50;
const PATH = '/api/v1/me';

function progress(message: string): void {
  process.stdout.write(`[http] ${message}\n`);
}

/** A user and an API key inserted directly, before the app starts, so it sees a non-empty database. */
async function seedUser(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const user = await client.query<{ id: string }>(
      `INSERT INTO users (name, email, tier, role) VALUES ('Bench User', 'bench@conveyor.local', 'pro', 'user') RETURNING id`,
    );
    const { key, hash, prefix } = generateApiKey();
    await client.query(`INSERT INTO api_keys (user_id, name, key_hash, prefix) VALUES ($1, 'bench', $2, $3)`, [
      user.rows[0].id,
      hash,
      prefix,
    ]);
    return key;
  } finally {
    await client.end();
  }
}

function urlOf(address: string | AddressInfo | null): string {
  if (!address || typeof address === 'string') throw new Error(`unexpected server address ${String(address)}`);
  return `http://127.0.0.1:${address.port}${PATH}`;
}

async function measureConveyor(databaseUrl: string, key: string): Promise<{ figures: LoadFigures; body: string }> {
  const config = loadConfig({
    ...process.env,
    ...BENCH_RATE_LIMITS,
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'warn',
    PORT: '0',
  });
  const app = await createApp(config, createLogger('warn'));
  try {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = urlOf(app.getHttpServer().address());
    const headers = { authorization: `Bearer ${key}` };
    // One checked request first: the baseline must serve exactly what the app serves.
    const response = await fetch(url, { headers });
    const body = await response.text();
    if (response.status !== 200) throw new Error(`GET ${PATH} returned ${response.status}: ${body}`);
    progress(`Conveyor at ${url}`);
    const figures = await measure(url, { connections: CONNECTIONS, headers });
    // autocannon drops its sockets mid-request but their handlers still run; closing now would cut
    // their queries and flood the output with errors. A second is far longer than any request takes here.
    await setTimeout(1000);
    return { figures, body };
  } finally {
    await app.close();
  }
}

async function measureBareFastify(body: string): Promise<LoadFigures> {
  const server = Fastify({ logger: false });
  server.get(PATH, async (_request, reply) => reply.type('application/json; charset=utf-8').send(body));
  try {
    await server.listen({ port: 0, host: '127.0.0.1' });
    const url = urlOf(server.server.address());
    progress(`bare Fastify at ${url}`);
    return await measure(url, { connections: CONNECTIONS });
  } finally {
    await server.close();
  }
}

function row(label: string, f: LoadFigures): { label: string; values: number[] } {
  return { label, values: [Math.round(f.requestsPerSecond), f.p50Ms, f.p99Ms, f.requests] };
}

async function main(): Promise<void> {
  const db = await benchDatabase();
  try {
    progress(`database: ${db.source}`);
    await runMigrations(db.url);
    const key = await seedUser(db.url);
    const conveyor = await measureConveyor(db.url, key);
    const bare = await measureBareFastify(conveyor.body);

    const ratio = conveyor.figures.requestsPerSecond / bare.requestsPerSecond;
    const { warmupSeconds, seconds } = loadDurations();
    emitResult({
      title: 'Authenticated GET /api/v1/me vs bare Fastify',
      description:
        `autocannon, ${CONNECTIONS} connections, ${seconds} s per server after a ${warmupSeconds} s warm-up, ` +
        'load generated in a worker thread of the same process. Conveyor runs the real app: API key resolved ' +
        'through the per-instance principal cache (NOTIFY-invalidated), then one prepared user query in PostgreSQL; the baseline is Fastify returning the same JSON from memory.',
      columns: ['req/s (mean)', 'latency p50 (ms)', 'latency p99 (ms)', 'requests'],
      rows: [row('Conveyor', conveyor.figures), row('bare Fastify', bare)],
      ratio: {
        label: 'Conveyor / bare Fastify (req/s)',
        value: ratio,
        interpretation:
          `Conveyor serves ${(ratio * 100).toFixed(0)} % of a bare server's throughput; the rest is Nest's ` +
          `pipeline plus one database round trip per request. Its p99 of ${conveyor.figures.p99Ms} ms is ` +
          `${conveyor.figures.p99Ms < 1000 ? 'within' : 'OVER'} the SPEC's API p95 < 1 s floor.`,
      },
      notes: [
        `Database: ${db.source}.`,
        'LOG_LEVEL=warn, so the per-request log line is not written; at info each request also pays for one JSON log line.',
        'autocannon records latency in whole milliseconds.',
      ],
    });
  } finally {
    await db.dispose();
  }
}

runBench(main);
