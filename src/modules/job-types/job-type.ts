import type { JSONSchemaType } from 'ajv';

/** What a handler gets besides its input. `signal` aborts on cancel, timeout and shutdown. */
export interface JobContext {
  jobId: string;
  userId: string;
  /** 1 on the first run. */
  attempt: number;
  signal: AbortSignal;
}

/**
 * A job type: a named, pluggable processor. Built-in types live next to this file; remote
 * types are loaded from JOB_TYPES_FILE. The registry validates input against `inputSchema`
 * at submission (422 listing each violation) and output against `outputSchema` after the run.
 */
export interface JobType {
  name: string;
  description: string;
  /** JSON Schema (draft 2020-12 subset that ajv supports) for `input`. */
  inputSchema: Record<string, unknown>;
  /** Optional JSON Schema for the handler's output; an invalid output fails the attempt (not retried). */
  outputSchema?: Record<string, unknown>;
  /** Credits charged when a job of this type is accepted. */
  cost: number;
  /** Per-attempt time limit; the handler's signal aborts when it passes. */
  timeoutMs: number;
  /** Default attempts for a job of this type (a job may ask for fewer or more, within bounds). */
  maxAttempts: number;
  /** Exponential backoff between attempts: min(maxMs, baseMs * 2^(attempt-1)) with ±20 % jitter. */
  backoff: { baseMs: number; maxMs: number };
  /** Example input, for the catalog and the docs. */
  example?: unknown;
  handle(input: unknown, context: JobContext): Promise<unknown>;
}

/**
 * Thrown by a handler to fail an attempt with a code. `retryable: false` fails the job at once
 * (bad request to a remote, invalid output); otherwise the attempt is retried while attempts remain.
 */
export class JobError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable = true,
  ) {
    super(message);
    this.name = 'JobError';
  }
}

export type { JSONSchemaType };
