import { stringify } from 'csv-stringify';
import { pipeline, Transform, type Readable } from 'node:stream';
import type { ResultRow } from './batches.repository.js';

/** One downloaded item: `output` for a completed job (null if retention removed it), else `error`. */
function toItem(row: ResultRow): Record<string, unknown> {
  const base = { customId: row.custom_id, jobId: row.id, status: row.status };
  return row.status === 'completed' ? { ...base, output: row.output ?? null } : { ...base, error: row.error };
}

// A spreadsheet runs a cell that starts with one of these as a formula (`=HYPERLINK(…)`, `+1+1`,
// `@SUM(…)`; tab and CR start one in some). OWASP's CSV-injection advice: prefix such a cell with `'`.
const FORMULA_START = /^[=+\-@\t\r]/;

/** A CSV cell a spreadsheet shows as text, never evaluates. */
export function neutraliseFormula(cell: string): string {
  return FORMULA_START.test(cell) ? `'${cell}` : cell;
}

/**
 * Turns a stream of result rows into JSON Lines or CSV. Built with stream.pipeline, so a client
 * that stops reading applies backpressure all the way to the database cursor, and one that hangs
 * up destroys the chain (and so releases the connection).
 */
export function formatResults(rows: Readable, format: 'jsonl' | 'csv'): Readable {
  const onError = (): void => undefined; // the error reaches the response stream, which ends the reply
  if (format === 'jsonl') {
    const lines = new Transform({
      writableObjectMode: true,
      transform(row: ResultRow, _encoding, done) {
        done(null, `${JSON.stringify(toItem(row))}\n`);
      },
    });
    return pipeline(rows, lines, onError);
  }
  // csv-stringify quotes fields with commas, quotes or newlines, and doubles embedded quotes. Every
  // cell, the user's customId, output and error text included, is neutralised (the header row is ours).
  const csv = stringify({
    header: true,
    columns: ['customId', 'jobId', 'status', 'output', 'errorCode', 'errorMessage'],
    cast: { string: neutraliseFormula },
  });
  const records = new Transform({
    objectMode: true,
    transform(row: ResultRow, _encoding, done) {
      done(null, {
        customId: row.custom_id ?? '',
        jobId: row.id,
        status: row.status,
        output: row.status === 'completed' && row.output !== null ? JSON.stringify(row.output) : '',
        errorCode: row.error?.code ?? '',
        errorMessage: row.error?.message ?? '',
      });
    },
  });
  return pipeline(rows, records, csv, onError);
}
