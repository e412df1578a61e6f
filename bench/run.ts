import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseResult, RESULT_PREFIX, type BenchResult } from './lib/protocol.js';
import { describeMachine, formatRatio, markdownReport, textTable } from './lib/report.js';

/**
 * Runs every `*.bench.js` next to this file, one child process each and one after the other, so
 * benchmarks never compete for the CPU nor share a warmed-up heap. Usage:
 *   node dist/bench/run.js [--smoke] [filter...]   (BENCH_SMOKE=1 also selects smoke mode)
 */
const HERE = path.dirname(fileURLToPath(import.meta.url));
const SUFFIX = '.bench.js';

const args = process.argv.slice(2);
const smoke = process.env.BENCH_SMOKE === '1' || args.includes('--smoke');
const filters = args.filter((a) => !a.startsWith('--'));
// Generous: a hung bench must fail CI, not stall it for hours.
const TIMEOUT_MS = smoke ? 3 * 60_000 : 15 * 60_000;

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** The source `bench/` folder: results are committed next to the code, not left in dist/. */
function sourceBenchDir(): string {
  let dir = HERE;
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return path.join(dir, 'bench');
}

function runBench(file: string): Promise<BenchResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(HERE, file)], {
      env: { ...process.env, BENCH_SMOKE: smoke ? '1' : '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let result: BenchResult | undefined;
    let parseError: unknown;
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.startsWith(RESULT_PREFIX)) return line.trim() ? say(`  ${line}`) : undefined;
      try {
        result = parseResult(line);
      } catch (error) {
        parseError = error;
      }
    });
    const timer = setTimeout(() => {
      say(`  timed out after ${TIMEOUT_MS / 1000} s; stopping it`);
      // SIGTERM first so the bench can stop the database it started.
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    }, TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`exited with ${signal ?? code}`));
      if (parseError) return reject(parseError);
      if (!result) return reject(new Error(`printed no ${RESULT_PREFIX.trim()} line`));
      resolve(result);
    });
  });
}

async function main(): Promise<number> {
  const files = (await readdir(HERE)).filter((f) => f.endsWith(SUFFIX)).sort();
  const selected = files.filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
  if (selected.length === 0) {
    say(`no benchmark matches ${filters.join(', ') || '*'} (found: ${files.join(', ') || 'none'})`);
    return 1;
  }
  const mode = smoke ? 'smoke (short measurements; figures are not meaningful)' : 'full';
  say(`${selected.length} benchmark(s), ${smoke ? 'smoke' : 'full'} mode`);

  const results: Array<{ name: string; result: BenchResult }> = [];
  const failed: string[] = [];
  for (const file of selected) {
    const name = file.slice(0, -SUFFIX.length);
    say(`\n▶ ${name}`);
    try {
      const result = await runBench(file);
      results.push({ name, result });
      say(`\n${result.title}\n${textTable(result)}\n${result.ratio.label}: ${formatRatio(result.ratio)}`);
      say(result.ratio.interpretation);
    } catch (error) {
      failed.push(name);
      say(`✗ ${name} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  if (failed.length) {
    say(`\n${failed.length} benchmark(s) failed: ${failed.join(', ')}; results not written`);
    return 1;
  }
  // A filtered run would replace the other benchmarks' figures with nothing; only full sets are written.
  if (filters.length) {
    say('\nfiltered run: results file not written');
    return 0;
  }
  const target = path.join(sourceBenchDir(), smoke ? 'RESULTS.smoke.md' : 'RESULTS.md');
  await writeFile(target, markdownReport({ date: new Date(), machine: describeMachine(), mode, results }));
  say(`\nwrote ${path.relative(process.cwd(), target)}`);
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
