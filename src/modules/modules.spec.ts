import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Feature modules depend one way (STYLE.md): two modules that import each other are one idea
 * split badly. This reads every import between the folders of src/modules and fails on a cycle.
 */
const MODULES = path.resolve('src/modules');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return files(full);
    return e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts') ? [full] : [];
  });
}

/** feature → the features it imports (type-only imports included: they couple the code just the same). */
function dependencies(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const feature of readdirSync(MODULES, { withFileTypes: true }).filter((e) => e.isDirectory())) {
    const deps = new Set<string>();
    for (const file of files(path.join(MODULES, feature.name))) {
      for (const [, spec] of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
        const target = path.relative(MODULES, path.resolve(path.dirname(file), spec));
        const other = target.split(path.sep)[0];
        if (!target.startsWith('..') && other !== feature.name) deps.add(other);
      }
    }
    graph.set(feature.name, deps);
  }
  return graph;
}

function cycles(graph: Map<string, Set<string>>): string[][] {
  const found: string[][] = [];
  const visit = (node: string, trail: string[]): void => {
    const at = trail.indexOf(node);
    if (at >= 0) {
      found.push([...trail.slice(at), node]);
      return;
    }
    for (const next of graph.get(node) ?? []) visit(next, [...trail, node]);
  };
  for (const node of graph.keys()) visit(node, []);
  return found;
}

describe('feature modules', () => {
  const graph = dependencies();

  it('import each other in one direction only (no cycle)', () => {
    expect(cycles(graph).map((c) => c.join(' → '))).toEqual([]);
  });

  it('the queue knows none of the features that use it', () => {
    expect([...graph.get('queue')!].filter((m) => ['jobs', 'batches', 'pipelines'].includes(m))).toEqual([]);
    for (const user of ['jobs', 'batches', 'pipelines']) expect(graph.get(user)!.has('queue')).toBe(true);
  });

  it('the check sees a cycle when there is one', () => {
    const looped = new Map([...graph].map(([k, v]) => [k, new Set(v)]));
    looped.get('queue')!.add('batches');
    expect(cycles(looped).length).toBeGreaterThan(0);
  });
});
