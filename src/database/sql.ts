/**
 * A complete, parameterised SQL statement with a stable name. Every statement Conveyor runs is
 * declared once with {@link sql} at module load, so:
 * - its text is fixed: values only ever travel as `$n` parameters, never pasted into the text;
 * - `npm run sql:snapshot` writes every statement, in full, to `src/queries/<module>.sql`, where a
 *   review reads the SQL that runs and its diff (CI fails when the snapshot drifts from the code);
 * - the name labels its timing (slow-query log, metrics) and, for `prepare: true`, names the
 *   prepared statement on each connection.
 *
 * Shared fragments (the webhook outbox CTEs, the event payloads) are composed into the text here,
 * at load time, from constants; the snapshot shows the result.
 */
export interface Sql<R extends object = Record<string, unknown>> {
  /** `<module>.<operation>`, e.g. `queue.claim`; unique. */
  readonly name: string;
  readonly text: string;
  /** Run as a named prepared statement (parsed and planned once per connection): for hot queries. */
  readonly prepare: boolean;
  /** Phantom: the row type the statement returns. */
  readonly row?: R;
}

const REGISTRY = new Map<string, Sql<object>>();
const NAME = /^[a-z][a-zA-Z]*\.[a-z][a-zA-Z0-9]*$/;

/** Strips the common indentation and surrounding blank lines, so the snapshot reads like SQL. */
function dedent(text: string): string {
  const lines = text
    .replace(/^\s*\n/, '')
    .replace(/\s+$/, '')
    .split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)![0].length));
  return lines.map((l) => l.slice(indent).trimEnd()).join('\n');
}

/** Declares a statement. Names are `<module>.<operation>` and unique across the process. */
export function sql<R extends object = Record<string, unknown>>(
  name: string,
  text: string,
  options: { prepare?: boolean } = {},
): Sql<R> {
  if (!NAME.test(name)) throw new Error(`SQL statement name "${name}" is not <module>.<operation>`);
  const existing = REGISTRY.get(name);
  const statement: Sql<R> = { name, text: dedent(text), prepare: options.prepare ?? false };
  if (existing && existing.text !== statement.text) throw new Error(`two SQL statements are named "${name}"`);
  REGISTRY.set(name, statement);
  return statement;
}

/** Every statement declared so far (those of the modules imported), by name. */
export function registeredStatements(): Array<Sql<object>> {
  return [...REGISTRY.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
