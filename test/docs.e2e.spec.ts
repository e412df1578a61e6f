import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOG, problemType } from '../src/common/errors/error-catalog.js';
import { PLACEHOLDER_API_KEY } from '../src/modules/docs/code-samples.js';
import { createUser, startTestApp, type TestApp, type TestUser } from './helpers/app.js';
import { ValidatingProxy } from './helpers/validating-proxy.js';

const run = promisify(execFile);

const LABELS = ['cURL', 'Python', 'JavaScript', 'Node.js', 'Go', 'Java', 'Ruby', 'PHP', 'C#'];

interface Sample {
  lang: string;
  label: string;
  source: string;
}

interface EndpointDoc {
  name: string;
  method: string;
  path: string;
  parameters: Array<{ name: string; in: string; example: string }>;
  requestBody: { example: unknown } | null;
  codeSamples: Sample[];
}

/** The interpreter itself (not a version manager's shim, which needs the real HOME). */
const PYTHON = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();

/**
 * What runs each language's sample, and where the toolchain comes from: .ci/run installs Debian's
 * packages when missing (golang-go, default-jdk-headless, ruby, php-cli with php-curl, mono-mcs with
 * libmono-system-net-http4.0-cil); a test fails naming the package rather than skip.
 */
const TOOLCHAINS: Record<string, { checks: string[]; packages: string }> = {
  Go: { checks: ['command -v go'], packages: 'golang-go' },
  Java: { checks: ['command -v java'], packages: 'default-jdk-headless' },
  Ruby: { checks: ['command -v ruby'], packages: 'ruby' },
  PHP: {
    checks: ['command -v php', `php -r 'exit(function_exists("curl_init") ? 0 : 1);'`],
    packages: 'php-cli php-curl',
  },
  'C#': { checks: ['command -v mcs', 'command -v mono'], packages: 'mono-mcs libmono-system-net-http4.0-cil' },
};

/** True when the shell check succeeds. */
function holds(check: string): boolean {
  try {
    execFileSync('sh', ['-c', check], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The Java sample is a main method's body (as httpsnippet's java/nethttp prints it): the class around it. */
const javaProgram = (body: string): string => `import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

public class Main {
  public static void main(String[] args) throws Exception {
${body}
  }
}
`;

/**
 * The C# sample is a .NET 6+ top-level program (implicit usings); Mono's compiler, the one Debian
 * has, wants the Main and usings around it. The sample's own \`using\` lines stay at the top.
 */
function csharpProgram(sample: string): string {
  const lines = sample.split('\n');
  const usings = lines.filter((line) => /^using [\w.]+;$/.test(line));
  const body = lines.filter((line) => !/^using [\w.]+;$/.test(line)).join('\n');
  return `${usings.join('\n')}
using System;
using System.Net.Http;
using System.Threading.Tasks;

class Program {
  static void Main() { Run().GetAwaiter().GetResult(); }

  static async Task Run() {
${body}
  }
}
`;
}

describe('docs endpoints', () => {
  let t: TestApp;
  let user: TestUser;
  let baseUrl: string;
  let proxy: ValidatingProxy;
  let scratch: string;
  let openapi: { paths: Record<string, Record<string, { operationId: string; 'x-codeSamples'?: Sample[] }>> };

  beforeAll(async () => {
    t = await startTestApp();
    user = await createUser(t.db);
    // A real socket: the samples run in child processes and call the address they were served from.
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    // Through a validating proxy (its Host is the one the samples name): every answer the samples
    // get is checked against the document too (the last test).
    proxy = await ValidatingProxy.start(`http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`);
    baseUrl = proxy.url;
    openapi = (await t.request({ method: 'GET', url: '/docs-json' })).body;
    scratch = await mkdtemp(path.join(tmpdir(), 'conveyor-docs-'));
  });
  afterAll(async () => {
    await proxy?.close();
    await t?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  const operationIds = (): string[] =>
    Object.values(openapi.paths).flatMap((methods) => Object.values(methods).map((op) => op.operationId));

  const get = (url: string, key: string | null = user.key) => t.request({ method: 'GET', url, key: key ?? undefined });

  describe('GET /api/v1/docs/api/overview', () => {
    it('describes the API: auth, tiers, error format, links, and every operation of the document', async () => {
      const res = await get('/api/v1/docs/api/overview');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        title: 'Conveyor API',
        version: expect.any(String),
        authentication: { type: 'http', scheme: 'bearer' },
        errorFormat: { contentType: 'application/problem+json', catalog: '/api/v1/docs/errors' },
        links: { swaggerUi: '/docs', openApiJson: '/docs-json' },
      });
      expect(res.body.tiers.map((tier: { tier: string }) => tier.tier)).toEqual(['free', 'pro', 'enterprise']);
      const listed = res.body.sections.flatMap((section: { operations: Array<{ name: string }> }) =>
        section.operations.map((op) => op.name),
      );
      expect(new Set(listed)).toEqual(new Set(operationIds()));
      const jobs = res.body.sections.find((section: { name: string }) => section.name === 'Jobs');
      expect(jobs.operations).toContainEqual({
        name: 'createJob',
        method: 'POST',
        path: '/api/v1/jobs',
        summary: expect.any(String),
      });
    });

    it('needs an API key', async () => {
      const res = await get('/api/v1/docs/api/overview', null);
      expect(res.status).toBe(401);
      expect(res.headers['content-type']).toContain('application/problem+json');
    });
  });

  describe('GET /api/v1/docs/endpoints/{name}', () => {
    it('describes one operation: parameters, body schema and example, responses, errors, nine samples', async () => {
      const res = await get('/api/v1/docs/endpoints/createJob');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        name: 'createJob',
        method: 'POST',
        path: '/api/v1/jobs',
        tags: ['Jobs'],
        security: [{ bearer: [] }],
        requestBody: {
          contentTypes: ['application/json'],
          required: true,
          schema: { properties: { type: expect.anything(), input: expect.anything() } },
          example: { type: expect.any(String), input: expect.any(Object) },
        },
      });
      expect(res.body.parameters).toContainEqual(expect.objectContaining({ name: 'Idempotency-Key', in: 'header' }));
      // References are resolved: a reader needs nothing else.
      expect(JSON.stringify(res.body.requestBody.schema)).not.toContain('$ref');
      expect(res.body.responses.map((r: { status: string }) => r.status)).toContain('201');
      expect(res.body.errors).toContainEqual({
        status: 409,
        code: 'IDEMPOTENCY_CONFLICT',
        title: ERROR_CATALOG.IDEMPOTENCY_CONFLICT.title,
        type: problemType('IDEMPOTENCY_CONFLICT'),
      });
      expect(res.body.codeSamples.map((s: Sample) => s.label)).toEqual(LABELS);
      const curl = res.body.codeSamples.find((s: Sample) => s.label === 'cURL').source;
      expect(curl).toContain(`Authorization: Bearer ${PLACEHOLDER_API_KEY}`);
      expect(curl).toContain('/api/v1/jobs');
    });

    it('matches names case-insensitively and puts an example id in paths', async () => {
      const res = await get('/api/v1/docs/endpoints/GETJOB');
      expect(res.status).toBe(200);
      expect(res.body.name).toBe('getJob');
      const id = res.body.parameters.find((p: { in: string }) => p.in === 'path').example;
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      for (const sample of res.body.codeSamples as Sample[]) expect(sample.source, sample.label).toContain(id);
    });

    it('answers an unknown name with 404 problem+json and the three closest names', async () => {
      const res = await get('/api/v1/docs/endpoints/creatJob');
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.body).toMatchObject({ code: 'NOT_FOUND', status: 404, type: problemType('NOT_FOUND') });
      expect(res.body.suggestions).toHaveLength(3);
      expect(res.body.suggestions[0]).toBe('createJob');
    });

    it('has nine samples for every operation of the document, here and as x-codeSamples', async () => {
      const ids = operationIds();
      expect(ids.length).toBeGreaterThan(40);
      for (const methods of Object.values(openapi.paths)) {
        for (const op of Object.values(methods)) {
          expect(
            op['x-codeSamples']?.map((s) => s.label),
            op.operationId,
          ).toEqual(LABELS);
        }
      }
      for (const id of ids) {
        const res = await get(`/api/v1/docs/endpoints/${id}`);
        expect(res.status, id).toBe(200);
        expect(
          res.body.codeSamples.map((s: Sample) => s.label),
          id,
        ).toEqual(LABELS);
        for (const sample of res.body.codeSamples as Sample[]) {
          expect(sample.source.length, `${id} ${sample.label}`).toBeGreaterThan(20);
          expect(sample.source, `${id} ${sample.label}`).not.toContain(user.key);
        }
      }
    });
  });

  describe('GET /api/v1/docs/errors', () => {
    it('lists every code of the catalog with its status, meaning, action and type URI', async () => {
      const res = await get('/api/v1/docs/errors');
      expect(res.status).toBe(200);
      expect(res.body.map((e: { code: string }) => e.code)).toEqual(Object.keys(ERROR_CATALOG));
      for (const [code, entry] of Object.entries(ERROR_CATALOG)) {
        expect(res.body).toContainEqual({ code, ...entry, type: problemType(code as keyof typeof ERROR_CATALOG) });
      }
    });
  });

  it('caches each docs endpoint per user: a repeat is an X-Cache HIT with the same body', async () => {
    const other = await createUser(t.db);
    for (const url of ['/api/v1/docs/api/overview', '/api/v1/docs/endpoints/listJobs', '/api/v1/docs/errors']) {
      const first = await get(url, other.key);
      expect(first.headers['x-cache'], url).toBe('MISS');
      const second = await get(url, other.key);
      expect(second.headers['x-cache'], url).toBe('HIT');
      expect(second.body, url).toEqual(first.body);
    }
    // The samples name the address the caller used: each address has its own entry.
    const on = (host: string) =>
      t.request({ method: 'GET', url: '/api/v1/docs/endpoints/getJob', key: other.key, headers: { host } });
    const viaA = await on('a.example:8080');
    expect(viaA.headers['x-cache']).toBe('MISS');
    expect(JSON.stringify(viaA.body)).toContain('http://a.example:8080/api/v1/jobs/');
    const viaB = await on('b.example');
    expect(viaB.headers['x-cache']).toBe('MISS');
    expect(JSON.stringify(viaB.body)).toContain('http://b.example/api/v1/jobs/');
    expect(JSON.stringify(viaB.body)).not.toContain('a.example');
    const againA = await on('a.example:8080');
    expect(againA.headers['x-cache']).toBe('HIT');
    expect(againA.body).toEqual(viaA.body);
    // Made-up host names do not fill the cache: past 16 addresses, answers are not cached.
    for (let i = 0; i < 20; i += 1) await on(`made-up-${i}.example`);
    const past = await on('made-up-19.example');
    expect(past.status).toBe(200);
    expect(past.headers['x-cache']).toBeUndefined();
    expect(JSON.stringify(past.body)).toContain('http://made-up-19.example/api/v1/jobs/');
    expect((await on('a.example:8080')).headers['x-cache']).toBe('HIT');
  });

  describe('the samples run as generated (key, and id where the path has one, substituted)', () => {
    // Its own user, with its own jobs.
    let runner: TestUser;
    let jobId: string;

    beforeAll(async () => {
      runner = await createUser(t.db);
      const res = await t.request({
        method: 'POST',
        url: '/api/v1/jobs',
        key: runner.key,
        body: { type: 'echo', input: { hello: 'docs' } },
      });
      expect(res.status).toBe(201);
      jobId = res.body.id;
    });

    /** The operation's docs, fetched over the socket: the samples call the address they were served from. */
    async function docsOf(name: string): Promise<EndpointDoc> {
      const res = await fetch(`${baseUrl}/api/v1/docs/endpoints/${name}`, {
        headers: { authorization: `Bearer ${runner.key}` },
      });
      expect(res.status).toBe(200);
      return (await res.json()) as EndpointDoc;
    }

    function runnable(doc: EndpointDoc, label: string): string {
      let source = doc.codeSamples.find((s) => s.label === label)!.source;
      // The Node.js sample names the host and port apart.
      expect(source).toContain(label === 'Node.js' ? `port: '${new URL(baseUrl).port}'` : baseUrl);
      expect(source).toContain(PLACEHOLDER_API_KEY);
      source = source.replaceAll(PLACEHOLDER_API_KEY, runner.key);
      for (const p of doc.parameters.filter((p) => p.in === 'path')) source = source.replaceAll(p.example, jobId);
      return source;
    }

    /** Runs a sample as a user would; its stdout. */
    async function execute(label: string, source: string): Promise<string> {
      const env = { PATH: process.env.PATH ?? '', HOME: scratch, GOCACHE: path.join(scratch, 'go-build') };
      const options = { env, cwd: scratch, timeout: 60_000 };
      const file = async (name: string, text: string): Promise<string> => {
        await writeFile(path.join(scratch, name), text);
        return name;
      };
      switch (label) {
        case 'cURL':
          return (await run('bash', ['-c', source], options)).stdout;
        case 'Python':
          return (await run(PYTHON, ['-c', source], options)).stdout;
        case 'Node.js':
          return (await run(process.execPath, ['-e', source], options)).stdout;
        case 'JavaScript':
          return (await run(process.execPath, ['--input-type=module', '-e', source], options)).stdout;
        case 'Go':
          return (await run('go', ['run', await file('main.go', source)], options)).stdout;
        case 'Java':
          // Java 11+ runs a single source file without a separate javac.
          return (await run('java', [await file('Main.java', javaProgram(source))], options)).stdout;
        case 'Ruby':
          return (await run('ruby', ['-e', source], options)).stdout;
        case 'PHP':
          return (await run('php', [await file('sample.php', source)], options)).stdout;
        case 'C#':
          await run(
            'mcs',
            ['-r:System.Net.Http', '-out:Program.exe', await file('Program.cs', csharpProgram(source))],
            options,
          );
          return (await run('mono', ['Program.exe'], options)).stdout;
        default:
          throw new Error(`no runner for ${label}`);
      }
    }

    const CASES: Array<[name: string, status: number]> = [
      ['createJob', 201],
      ['getJob', 200],
      ['listJobs', 200],
      ['getMe', 200],
      ['listJobTypes', 200],
    ];

    for (const label of LABELS) {
      it(`${label}: ${CASES.map(([name]) => name).join(', ')}`, async () => {
        for (const check of TOOLCHAINS[label]?.checks ?? []) {
          if (!holds(check)) {
            throw new Error(
              `\`${check}\` fails: this test runs the ${label} samples. ` +
                `Install it with \`apt-get install -y ${TOOLCHAINS[label].packages}\` (.ci/run does).`,
            );
          }
        }
        const before = await t.db.pool.query('SELECT count(*)::int AS n FROM jobs WHERE user_id = $1', [runner.id]);
        for (const [name, status] of CASES) {
          const doc = await docsOf(name);
          const sent = proxy.exchanges.length;
          const stdout = await execute(label, runnable(doc, label));
          // What the sample got, as the wire saw it (the proxy): one request, the operation's, answered as documented.
          expect(
            proxy.exchanges.slice(sent).map(({ method, url, status }) => [method, url.split('?')[0], status]),
            `${label} ${name}: ${stdout}`,
          ).toEqual([[doc.method, doc.path.replace(/\{[^}]+\}/, jobId), status]]);
          if (name === 'getJob') expect(stdout).toContain(jobId);
        }
        // The createJob sample really created a job, with the body of the documented example.
        const after = await t.db.pool.query('SELECT count(*)::int AS n FROM jobs WHERE user_id = $1', [runner.id]);
        expect(after.rows[0].n).toBe(before.rows[0].n + 1);
      }, 120_000);
    }

    it('every answer the samples (and their docs) received conforms to docs/openapi.json (validating proxy)', () => {
      expect(proxy.checked).toBeGreaterThanOrEqual(LABELS.length * CASES.length * 2);
      proxy.expectConforming();
    });
  });
});
