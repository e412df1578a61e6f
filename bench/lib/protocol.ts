/**
 * What a `*.bench.ts` script and the runner agree on. A bench may print anything to stdout; its
 * figures travel on one line starting with RESULT_PREFIX, which the runner parses.
 */
export const RESULT_PREFIX = 'BENCH_RESULT ';

export interface BenchResult {
  title: string;
  /** What is measured and how, one or two sentences. */
  description: string;
  /** Metric names with their units, e.g. "req/s (mean)". */
  columns: string[];
  /** One row per subject (the system under test, then its baseline). */
  rows: Array<{ label: string; values: number[] }>;
  /** The headline figure: a ratio (×) unless `unit` says otherwise (e.g. '%' for a hit rate). */
  ratio: { label: string; value: number; interpretation: string; unit?: '×' | '%' };
  notes: string[];
}

/** The runner passes `BENCH_SMOKE=1` for the short CI mode, whichever way it was asked for it. */
export function isSmoke(): boolean {
  return process.env.BENCH_SMOKE === '1';
}

export function emitResult(result: BenchResult): void {
  process.stdout.write(`\n${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}

/** Parses a result line, rejecting anything that would break the report instead of trusting it. */
export function parseResult(line: string): BenchResult {
  const value = JSON.parse(line.slice(RESULT_PREFIX.length)) as Partial<BenchResult>;
  const ok =
    typeof value.title === 'string' &&
    typeof value.description === 'string' &&
    Array.isArray(value.columns) &&
    Array.isArray(value.rows) &&
    value.rows.every((r) => Array.isArray(r.values) && r.values.length === value.columns?.length) &&
    typeof value.ratio?.value === 'number' &&
    Array.isArray(value.notes);
  if (!ok) throw new Error(`malformed bench result: ${line.slice(0, 200)}`);
  return value as BenchResult;
}

/**
 * Runs a bench's `main` and exits explicitly: a handle left open by a library must not hang the
 * runner until its timeout. A failure prints its stack and exits 1.
 */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
