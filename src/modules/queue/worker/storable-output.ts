import { describeJsonProblem, scanJson } from '../../../common/http/json-scan.js';

/**
 * A job's output serialized for storage, or why PostgreSQL could not store it — decided before
 * the write: an output it would refuse (NUL, a lone UTF-16 surrogate, nesting deeper than
 * JSON_MAX_DEPTH, which would also overflow JSON.stringify) must fail the job at once with
 * INVALID_OUTPUT, not make the write fail and the job run again, repeating its side effects.
 * The same scan as the API's input check.
 */
export function serializeOutput(output: unknown, maxDepth: number): { json: string } | { invalid: string } {
  const problem = scanJson(output, { maxDepth, prefix: 'output' });
  if (problem) {
    return { invalid: `The output cannot be stored: ${problem.field} ${describeJsonProblem(problem, maxDepth)}` };
  }
  return { json: JSON.stringify(output ?? null) };
}
