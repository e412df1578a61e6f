import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOG } from '../src/common/errors/error-catalog.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { dockerfile, envFile, filesUnder, read, ROOT } from './helpers/deploy.js';

/**
 * "Docs don't lie": every endpoint, environment variable, npm script, metric and error code that
 * README.md, CHANGELOG.md and docs/*.md name must exist — endpoints in the live OpenAPI document
 * (plus the root routes), variables in .env.example, scripts in package.json, metrics in what
 * GET /metrics exposes, error codes in ERROR_CATALOG (with the status the catalog gives them).
 * Each false mention is reported as file:line; links to a doc's section must meet a heading. The
 * checker also runs on a fixture of false mentions, so a checker that stopped finding them fails.
 */

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;
type Method = (typeof METHODS)[number];

/** What the docs are checked against. */
interface Truth {
  /** Path templates by segment ('{}' for a parameter), with their methods. */
  routes: Array<{ segments: string[]; methods: Set<Method> }>;
  envVars: Set<string>;
  scripts: Set<string>;
  metrics: Set<string>;
  /** Codes of `job.error.code` and pipeline run errors, as the worker and job types write them. */
  jobErrorCodes: Set<string>;
  /** The text of src/ (non-test .ts): LISTEN/NOTIFY channels the docs name must be in it. */
  source: string;
  /** Dockerfile ARGs (`--build-arg NAME=…` in the runbooks). */
  buildArgs: Set<string>;
}

/** Served outside /api/v1 (main.ts, swagger.ts, the metrics controller). */
const ROOT_ROUTES = ['/metrics', '/docs', '/docs-json', '/docs-yaml'];

/**
 * Upper-case names that are neither configuration nor error codes, and why they may be named.
 * Everything else in UPPER_SNAKE case must be one of those.
 */
const NOT_CONFIG = new Set([
  // The example clients' own environment (the guide's Python and JavaScript read these).
  'CONVEYOR_URL',
  'CONVEYOR_KEY',
  'CONVEYOR_WEBHOOK_SECRET',
  // The exported constant that holds the catalog (src/common/errors/error-catalog.ts).
  'ERROR_CATALOG',
]);

const markdownFiles = (): string[] => [
  'README.md',
  ...(existsSync(path.join(ROOT, 'CHANGELOG.md')) ? ['CHANGELOG.md'] : []),
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A path segment that stands for a value: `{id}`, `:id`, `<job id>`, an example id, `$ID`. */
function isPlaceholder(segment: string): boolean {
  return (
    /^\{.*\}$/.test(segment) ||
    segment.startsWith(':') ||
    segment.startsWith('$') ||
    segment.includes('…') ||
    segment.includes('...') ||
    UUID.test(segment) ||
    /^evt_[0-9a-z]+$/.test(segment) ||
    /^[0-9a-f-]{8,}$/.test(segment)
  );
}

/** `/api/v1/jobs/126692bc-…/result?x=1` → ['api', 'v1', 'jobs', '{}', 'result'] */
function segmentsOf(rawPath: string): string[] {
  const cleaned = rawPath
    .replace(/<[^>]*>/g, '{}')
    .replace(/\$?\{[^}]*\}/g, '{}')
    .replace(/[?#].*$/, '')
    .replace(/[.,;:]+$/, '')
    .replace(/\/+$/, '');
  return cleaned
    .split('/')
    .filter(Boolean)
    .map((s) => (isPlaceholder(s) ? '{}' : s));
}

/** One mention found in a doc: where, what kind, and what is wrong with it (undefined: true). */
interface Mention {
  line: number;
  text: string;
  problem?: string;
}

function checkEndpoint(truth: Truth, method: Method | undefined, rawPath: string): string | undefined {
  // A PromQL route regex (`route=~"/api/v1/health/.+"`) stands for everything under its prefix.
  let p = rawPath.replace(/^https?:\/\/[^/\s]+/, '').replace(/\/\.[+*]$/, '/*');
  const isRoot = ROOT_ROUTES.includes(p.replace(/[?#].*$/, '').replace(/[.,;:]+$/, ''));
  if (!p.startsWith('/api/') && !isRoot) p = `/api/v1${p}`;
  const segments = segmentsOf(p);
  if (segments.join('/') === 'api/v1') return undefined; // the prefix itself
  const wildcard = segments.at(-1) === '*';
  const wanted = wildcard ? segments.slice(0, -1) : segments;
  const fits = (route: Truth['routes'][number]): boolean =>
    (wildcard ? route.segments.length >= wanted.length : route.segments.length === wanted.length) &&
    wanted.every((s, i) => route.segments[i] === s || (route.segments[i] === '{}' && s !== undefined));
  // A placeholder in the doc must meet a parameter, not a fixed segment.
  const candidates = truth.routes.filter(
    (r) => fits(r) && wanted.every((s, i) => s !== '{}' || r.segments[i] === '{}'),
  );
  if (candidates.length === 0) return `no such endpoint: ${method ? `${method.toUpperCase()} ` : ''}${rawPath}`;
  if (method && !candidates.some((r) => r.methods.has(method))) {
    return `no ${method.toUpperCase()} on ${rawPath} (it has ${[...new Set(candidates.flatMap((r) => [...r.methods]))]
      .map((m) => m.toUpperCase())
      .join(', ')})`;
  }
  return undefined;
}

function checkUpperName(truth: Truth, name: string, local: Set<string>): string | undefined {
  if (name.endsWith('_*')) {
    const prefix = name.slice(0, -1);
    return [...truth.envVars].some((v) => v.startsWith(prefix))
      ? undefined
      : `no variable matches ${name} in .env.example`;
  }
  if (
    truth.envVars.has(name) ||
    name in ERROR_CATALOG ||
    truth.jobErrorCodes.has(name) ||
    truth.buildArgs.has(name) ||
    NOT_CONFIG.has(name) ||
    local.has(name)
  ) {
    return undefined;
  }
  return `${name} is not in .env.example, ERROR_CATALOG or the job error codes`;
}

function checkMetric(truth: Truth, name: string, before: string): string | undefined {
  if (truth.metrics.has(name)) return undefined;
  // LISTEN/NOTIFY channels are named like metrics; they must exist in the source instead.
  if (/\b(NOTIFY|LISTEN)\s*$/.test(before)) {
    return truth.source.includes(name) ? undefined : `no NOTIFY channel ${name} in src/`;
  }
  return `no metric ${name} on GET /metrics`;
}

/** Every checkable mention of one markdown file, each with its problem if it is false. */
function checkDoc(truth: Truth, text: string): Mention[] {
  const mentions: Mention[] = [];
  const lines = text.split('\n');
  let fence: string | undefined; // the language of the code block we are in, '' when unnamed
  // Names a code block assigns (`KEY_HEX=…`, `TOLERANCE_SECONDS = …`) or reads as shell
  // variables (`$WEBHOOK_ID`) are the example's own, not configuration.
  let local = new Set<string>();
  const blockLocals = (start: number): Set<string> => {
    const names = new Set<string>();
    for (let j = start; j < lines.length && !/^\s*```/.test(lines[j]); j++) {
      // Python and JavaScript constants: `TOLERANCE_SECONDS = 5 * 60`, `const LIMIT = 3`.
      for (const m of lines[j].matchAll(/^\s*(?:(?:export\s+)?(?:const|let|var)\s+)?([A-Z][A-Z0-9_]*)\s+=\s/g))
        names.add(m[1]);
      // Shell: `KEY_HEX=$(…)` alone on its line; `NAME=value command …` sets configuration for
      // that command, which is checked.
      for (const m of lines[j].matchAll(/^\s*(?:export\s+)?([A-Z][A-Z0-9_]*)=(\S*)\s*(.*)$/g)) {
        if (m[3] === '' || m[3].startsWith('#') || m[2].startsWith('$(')) names.add(m[1]);
      }
      for (const m of lines[j].matchAll(/\$\{?([A-Z][A-Z0-9_]*)/g)) names.add(m[1]);
    }
    return names;
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fenceMatch = /^\s*```\s*([\w-]*)/.exec(line);
    if (fenceMatch) {
      if (fence === undefined) {
        fence = fenceMatch[1];
        local = blockLocals(i + 1);
      } else {
        fence = undefined;
        local = new Set();
      }
      continue;
    }
    const add = (found: string, problem: string | undefined): void => {
      mentions.push({ line: i + 1, text: found, problem });
    };
    // `<job id>` holds a space; make it one token before splitting paths on whitespace.
    const scan = line.replace(/<[^>\n]*>/g, '{x}');

    // Endpoints: `GET /jobs/{id}` (relative to /api/v1 unless a root route), any /api/v1/… path,
    // $BASE/… in shell, and '/…' strings handed to a client function in code.
    const seen = new Set<number>();
    for (const m of scan.matchAll(
      /\b(GET|POST|PUT|PATCH|DELETE)\s+((?:https?:\/\/[^/\s`]+)?\/[\w\-./{}:$?=&%*…~+,@]*)(\s+HTTP\/)?/g,
    )) {
      if (m[3]) continue; // a request line to a receiver (`POST /conveyor/webhooks HTTP/1.1`)
      const at = m.index + m[0].indexOf(m[2]);
      seen.add(at + m[2].indexOf('/api/v1'));
      add(`${m[1]} ${m[2]}`, checkEndpoint(truth, m[1].toLowerCase() as Method, m[2]));
    }
    for (const m of scan.matchAll(/\/api\/v1(?:\/[\w\-./{}:$?=&%*…~+,@]*)?/g)) {
      if (seen.has(m.index)) continue;
      add(m[0], checkEndpoint(truth, undefined, m[0]));
    }
    for (const m of scan.matchAll(/\$\{?BASE\}?(\/[\w\-./{}:$?=&%*…~+,@]*)/g))
      add(m[0], checkEndpoint(truth, undefined, m[1]));
    if (fence !== undefined && /^(py|python|js|javascript|ts|typescript|mjs)$/.test(fence)) {
      for (const m of scan.matchAll(/(?:^|[(,\s=+])f?(["'`])(\/[a-z][^"'`\n]*)\1/g)) {
        add(m[2], checkEndpoint(truth, undefined, m[2]));
      }
      // An f-string path holds quotes of the other kind: f"/batches/{batch['id']}".
      for (const m of scan.matchAll(/\bf"(\/[a-z][^"\n]*)"/g)) add(m[1], checkEndpoint(truth, undefined, m[1]));
    }

    // npm scripts.
    for (const m of line.matchAll(/\bnpm run ([\w:.-]+)/g)) {
      add(`npm run ${m[1]}`, truth.scripts.has(m[1]) ? undefined : `no script "${m[1]}" in package.json`);
    }
    for (const m of line.matchAll(/\bnpm (start|test)\b/g)) {
      add(`npm ${m[1]}`, truth.scripts.has(m[1]) ? undefined : `no script "${m[1]}" in package.json`);
    }

    // Metrics (names ending in `_` are prefixes, as in `grep '^conveyor_'`).
    for (const m of line.matchAll(
      /(?<![\w.:/-])(conveyor_[a-z0-9_]*[a-z0-9]|http_request[a-z0-9_]*[a-z0-9])\b(?![.:-])/g,
    )) {
      const before = line.slice(0, m.index);
      if (/\b(from|import)\s+$/.test(before)) continue; // a Python module of the guide
      add(m[1], checkMetric(truth, m[1], before));
    }

    // UPPER_SNAKE names: configuration, error codes, job error codes.
    for (const m of line.matchAll(/(?<![\w$.-])([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+(?:_\*)?)(?![\w.-]*\.md)(?![a-z])/g)) {
      add(m[1], checkUpperName(truth, m[1], fence === undefined ? new Set() : local));
    }

    // A status next to a code: "409 `JOB_NOT_CANCELLABLE`", or a table row "| `CODE` | 409 |".
    const pairs = [
      ...[...line.matchAll(/\b([1-5]\d\d)\s+`([A-Z][A-Z0-9_]+)`/g)].map((m) => [m[1], m[2]]),
      ...[...line.matchAll(/`([A-Z][A-Z0-9_]+)`\s*\|\s*([1-5]\d\d)\s*\|/g)].map((m) => [m[2], m[1]]),
    ];
    for (const [status, code] of pairs) {
      const entry = (ERROR_CATALOG as Record<string, { status: number }>)[code];
      if (!entry) {
        if (truth.jobErrorCodes.has(code)) add(`${status} ${code}`, `${code} is a job error code, not an HTTP error`);
        // Other names are reported by the UPPER_SNAKE check; single words (`200 \`OK\``) are
        // codes only when the catalog has them.
        continue;
      }
      add(
        `${status} ${code}`,
        entry.status === Number(status) ? undefined : `${code} is ${entry.status}, not ${status}`,
      );
    }
  }
  return mentions;
}

/** Job error codes the source writes: `JobError('X'`, `code: 'X'`, `'code', 'X'` (SQL). */
function jobErrorCodes(source: string): Set<string> {
  const codes = new Set<string>();
  for (const m of source.matchAll(/(?:JobError\(\s*|\bcode:\s*|'code',\s*)'([A-Z][A-Z0-9_]+)'/g)) codes.add(m[1]);
  return codes;
}

/** GitHub's anchors of a markdown file's headings (code blocks skipped; repeats get -1, -2, …). */
function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const counts = new Map<string, number>();
  let inCode = false;
  for (const line of text.split('\n')) {
    if (/^\s*```/.test(line)) inCode = !inCode;
    const heading = inCode ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (!heading) continue;
    const slug = heading[1]
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = counts.get(slug) ?? 0;
    counts.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

describe('docs do not lie', () => {
  let t: TestApp;
  let truth: Truth;

  beforeAll(async () => {
    t = await startTestApp();
    const doc = (await t.request({ method: 'GET', url: '/docs-json' })).body as {
      paths: Record<string, Record<string, unknown>>;
    };
    const routes: Truth['routes'] = Object.entries(doc.paths).map(([p, ops]) => ({
      segments: p
        .split('/')
        .filter(Boolean)
        .map((s) => (s.startsWith('{') ? '{}' : s)),
      methods: new Set(Object.keys(ops).filter((k): k is Method => (METHODS as readonly string[]).includes(k))),
    }));
    for (const root of ROOT_ROUTES)
      routes.push({ segments: root.split('/').filter(Boolean), methods: new Set(['get']) });

    const exposition = (await t.request({ method: 'GET', url: '/metrics' })).text;
    const metrics = new Set<string>();
    for (const m of exposition.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
      metrics.add(m[1]);
      if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) metrics.add(m[1] + s);
    }
    expect(metrics.has('http_requests_total')).toBe(true);

    const source = filesUnder('src')
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'))
      .map((f) => read(path.join('src', f)))
      .join('\n');
    truth = {
      routes,
      envVars: new Set(envFile('.env.example').keys()),
      scripts: new Set(Object.keys((JSON.parse(read('package.json')) as { scripts: object }).scripts)),
      metrics,
      jobErrorCodes: jobErrorCodes(source),
      source,
      buildArgs: new Set(
        dockerfile()
          .filter((i) => i.keyword === 'ARG')
          .map((i) => i.args.split('=')[0].trim()),
      ),
    };
  });
  afterAll(async () => t?.close());

  it('finds the mentions it is meant to check in the docs', () => {
    const all = markdownFiles().flatMap((f) => checkDoc(truth, read(f)));
    // A checker that extracts nothing would pass any doc.
    expect(all.filter((m) => m.text.includes('/api/v1') || /^(GET|POST) /.test(m.text)).length).toBeGreaterThan(50);
    expect(all.filter((m) => m.text.startsWith('npm ')).length).toBeGreaterThan(5);
    expect(all.filter((m) => m.text.startsWith('conveyor_')).length).toBeGreaterThan(10);
    expect(all.filter((m) => m.text in ERROR_CATALOG).length).toBeGreaterThan(20);
  });

  it('every endpoint, variable, script, metric and error code the docs name exists', () => {
    const problems = markdownFiles().flatMap((file) =>
      checkDoc(truth, read(file))
        .filter((m) => m.problem)
        .map((m) => `${file}:${m.line}: ${m.problem}`),
    );
    expect(problems).toEqual([]);
  });

  it('every link to a section of a doc points at a heading that exists', () => {
    const problems: string[] = [];
    for (const file of markdownFiles()) {
      read(file)
        .split('\n')
        .forEach((line, i) => {
          for (const m of line.matchAll(/\]\(([^)\s#]*\.md)?#([^)\s]+)\)/g)) {
            const target = m[1] ? path.join(path.dirname(file), m[1]) : file;
            if (!existsSync(path.join(ROOT, target))) problems.push(`${file}:${i + 1}: no file ${target}`);
            else if (!anchorsOf(read(target)).has(m[2]))
              problems.push(`${file}:${i + 1}: no heading #${m[2]} in ${target}`);
          }
        });
    }
    expect(problems).toEqual([]);
  });

  it('reports each kind of false mention, with its line', () => {
    const fixture = [
      'Fetch it with `GET /api/v1/jobs/{id}/output`.', // no such endpoint
      'Or `PATCH /webhooks/{id}`.', // wrong method (it is PUT)
      'curl -s $BASE/job/126692bc-1c31-43bb-b931-f60b2e5759e5', // no such path
      'Set `WORKER_TURBO_MODE=true`.', // no such variable
      'Then run `npm run db:vacuum`.', // no such script
      'Watch `conveyor_jobs_exploded_total`.', // no such metric
      'It answers 404 `JOB_VANISHED`.', // no such code
      'It answers 404 `RATE_LIMITED`.', // wrong status
      'Tune `QUEUE_MAX_TURBO_*`.', // no variable with that prefix
      'Fine: `GET /jobs/{id}`, `npm run build`, `conveyor_queue_jobs`, 409 `JOB_NOT_FINISHED`, `BODY_LIMIT_BYTES`.',
    ].join('\n');
    const found = checkDoc(truth, fixture)
      .filter((m) => m.problem)
      .map((m) => m.line);
    expect(found).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
