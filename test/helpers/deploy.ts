import 'reflect-metadata';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { RequestMethod } from '@nestjs/common';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { API_PREFIX } from '../../src/app.factory.js';
import { IS_PUBLIC } from '../../src/common/auth/auth.decorators.js';

/** Readers for test/deploy.spec.ts: the deploy files as data, and the app's routes and metrics from the source. */

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');

/** Every document of a YAML file, as plain data; throws on any parse error or warning. */
export function yamlDocuments(file: string): any[] {
  const docs = parseAllDocuments(read(file));
  if (!Array.isArray(docs)) return [];
  const problems = docs.flatMap((d) => [...d.errors, ...d.warnings]).map((e) => e.message);
  if (problems.length) throw new Error(`${file}: ${problems.join('; ')}`);
  return docs.map((d) => d.toJS()).filter((d) => d != null);
}

/** Files under `dir` (relative to the repository), recursively, relative to `dir`. */
export function filesUnder(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(path.join(ROOT, dir), path.join(e.parentPath, e.name)));
}

/** KEY=VALUE lines (kustomize env files, .env.example); comments and blank lines skipped. */
export function envFile(file: string): Map<string, string> {
  const entries = read(file)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const at = line.indexOf('=');
      if (at < 1) throw new Error(`${file}: not KEY=VALUE: ${line}`);
      return [line.slice(0, at), line.slice(at + 1)] as [string, string];
    });
  return new Map(entries);
}

export interface Route {
  method: string;
  path: string;
  public: boolean;
  controller: string;
  handler: string;
}

const joinPath = (...parts: string[]): string =>
  '/' +
  parts
    .flatMap((p) => p.split('/'))
    .filter(Boolean)
    .join('/');

/**
 * The routes the app serves, from the Nest metadata of every controller under src/modules (the
 * same decorators Nest reads), with the global prefix and its exclusions as app.factory.ts sets them.
 */
export async function appRoutes(): Promise<Route[]> {
  const factory = read('src/app.factory.ts');
  const exclude = /setGlobalPrefix\(API_PREFIX, \{ exclude: \[([^\]]*)\] \}\)/.exec(factory);
  if (!exclude) throw new Error('app.factory.ts: setGlobalPrefix(API_PREFIX, { exclude: [...] }) not found');
  const excluded = [...exclude[1].matchAll(/'([^']+)'/g)].map((m) => m[1]);
  const files = filesUnder('src/modules').filter((f) => f.endsWith('.controller.ts'));
  const routes: Route[] = [];
  for (const file of files) {
    const mod: Record<string, unknown> = await import(pathToFileURL(path.join(ROOT, 'src/modules', file)).href);
    for (const exported of Object.values(mod)) {
      if (typeof exported !== 'function') continue;
      const base: unknown = Reflect.getMetadata(PATH_METADATA, exported);
      if (typeof base !== 'string') continue;
      for (const handler of Object.getOwnPropertyNames(exported.prototype)) {
        const fn = exported.prototype[handler];
        const method: RequestMethod | undefined = Reflect.getMetadata(METHOD_METADATA, fn);
        if (method === undefined) continue;
        const paths: unknown = Reflect.getMetadata(PATH_METADATA, fn);
        for (const sub of Array.isArray(paths) ? paths : [paths]) {
          const local = joinPath(base, String(sub ?? ''));
          const prefixed = excluded.includes(local.slice(1)) ? local : joinPath(API_PREFIX, local);
          routes.push({
            method: RequestMethod[method],
            path: prefixed,
            public: Reflect.getMetadata(IS_PUBLIC, fn) === true,
            controller: exported.name,
            handler,
          });
        }
      }
    }
  }
  return routes;
}

/** `/api/v1/webhooks/:id`, `/api/v1/webhooks/{id}` and `/api/v1/webhooks/$WEBHOOK_ID` compare equal. */
export const routeShape = (p: string): string =>
  p
    .split('?')[0]
    .split('/')
    .map((s) => (/^[:{$<]/.test(s) ? ':' : s))
    .join('/')
    .replace(/\/$/, '');

export interface MetricCatalog {
  /** Every series name the app exports (histograms with _bucket, _sum and _count). */
  names: Set<string>;
  /** Every label name the app's metrics carry, `le` included. */
  labels: Set<string>;
  /** The label names of each series (`le` on a histogram's _bucket). */
  labelsOf: Map<string, Set<string>>;
}

/** The metrics declared in metrics.service.ts (prom-client's default process metrics are not used by the rules). */
export function metricCatalog(): MetricCatalog {
  const source = read('src/modules/metrics/metrics.service.ts');
  const names = new Set<string>();
  const labels = new Set<string>(['le']);
  const labelsOf = new Map<string, Set<string>>();
  const starts = [...source.matchAll(/new (Histogram|Counter|Gauge)\(\{/g)];
  starts.forEach((start, i) => {
    const chunk = source.slice(start.index, starts[i + 1]?.index ?? source.length);
    const name = /name: '([a-z_:]+)'/.exec(chunk)?.[1];
    if (!name) throw new Error(`metrics.service.ts: a ${start[1]} without a name`);
    const own = [...(/labelNames: \[([^\]]*)\]/.exec(chunk)?.[1].matchAll(/'([a-z_]+)'/g) ?? [])].map((m) => m[1]);
    for (const l of own) labels.add(l);
    const series = start[1] === 'Histogram' ? ['_bucket', '_sum', '_count'].map((s) => name + s) : [name];
    for (const s of series) {
      names.add(s);
      labelsOf.set(s, new Set(s.endsWith('_bucket') ? [...own, 'le'] : own));
    }
  });
  return { names, labels, labelsOf };
}

/** The one path the METRICS_PORT server of metrics-server.ts answers (every other is 404). */
export function metricsServerPath(): string {
  const source = read('src/modules/metrics/metrics-server.ts');
  const match = /path !== '([^']+)'/.exec(source);
  if (!match) throw new Error("metrics-server.ts: `path !== '…'` not found");
  return match[1];
}

export interface DockerInstruction {
  stage: number;
  keyword: string;
  args: string;
}

/** Dockerfile instructions (continuation lines joined, comments dropped), each with the index of its stage. */
export function dockerfile(file = 'Dockerfile'): DockerInstruction[] {
  const lines = read(file)
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  let stage = -1;
  return lines.map((line) => {
    const [, keyword, args] = /^(\S+)\s*(.*)$/.exec(line)!;
    if (keyword.toUpperCase() === 'FROM') stage += 1;
    return { stage, keyword: keyword.toUpperCase(), args };
  });
}
