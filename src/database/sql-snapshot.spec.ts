import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderSnapshot } from './sql-snapshot.js';

const QUERIES = path.resolve('src/queries');

/** Source files below src/ (not specs). */
function sources(dir = path.resolve('src')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sources(full);
    return e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts') ? [full] : [];
  });
}

describe('the SQL snapshot (src/queries)', () => {
  it('is what the code runs: run `npm run sql:snapshot` after changing a statement', async () => {
    const expected = await renderSnapshot();
    const onDisk = readdirSync(QUERIES).filter((f) => f.endsWith('.sql'));
    expect(onDisk.sort()).toEqual([...expected.keys()].sort());
    for (const [file, content] of expected) {
      expect(readFileSync(path.join(QUERIES, file), 'utf8'), `src/queries/${file} is stale`).toBe(content);
    }
  });

  it('holds every statement: sql() is called only in *.sql.ts files, which the snapshot reads', () => {
    const outside = sources()
      .filter((f) => !f.endsWith('.sql.ts') && !f.endsWith(path.join('database', 'sql.ts')))
      .filter((f) => /\bsql(<[^>]*>)?\(\s*['`]/.test(readFileSync(f, 'utf8')));
    expect(outside.map((f) => path.relative(process.cwd(), f))).toEqual([]);
  });

  it('no module outside database/ reaches TypeORM', () => {
    const users = sources()
      .filter((f) => !f.includes(`${path.sep}database${path.sep}`))
      .filter((f) => /from '(typeorm|@nestjs\/typeorm)'/.test(readFileSync(f, 'utf8')));
    expect(users.map((f) => path.relative(process.cwd(), f))).toEqual([]);
  });
});
