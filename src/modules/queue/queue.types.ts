/** The shapes of the queue's state, shared with the modules that read it (jobs, batches, pipelines). */

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
export const JOB_STATUSES: JobStatus[] = ['queued', 'running', 'completed', 'failed', 'cancelled'];

export const BATCH_STATUSES = ['in_progress', 'completed', 'cancelling', 'cancelled'] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

export const RUN_STATUSES = ['running', 'completed', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Workers LISTEN here: a job became due (payload unused). */
export const JOBS_CHANNEL = 'conveyor_jobs';
/** The id of a job cancelled while it may be running, so its worker aborts it. */
export const JOB_CANCEL_CHANNEL = 'conveyor_job_cancel';
/** Every committed job transition, for other instances (see JobChanges). */
export const JOB_CHANGES_CHANNEL = 'conveyor_job_changes';

export interface JobFailure {
  code: string;
  message: string;
}

/** A `jobs` row as the API reads it. */
export interface JobRow {
  id: string;
  user_id: string;
  type: string;
  status: JobStatus;
  priority: number;
  input: unknown;
  metadata: Record<string, unknown>;
  attempts: number;
  max_attempts: number;
  cost: number;
  error: JobFailure | null;
  batch_id: string | null;
  pipeline_run_id: string | null;
  idempotency_key: string | null;
  request_hash: string | null;
  run_at: Date;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  cursor_ts: string;
}

export interface NewJob {
  userId: string;
  type: string;
  input: unknown;
  priority: number;
  runAt: Date | null;
  maxAttempts: number;
  metadata: Record<string, unknown>;
  cost: number;
  idempotencyKey: string | null;
  requestHash: string | null;
  /** The user's monthly credits (by tier): the job is refused if its cost would pass them. */
  creditLimit: number;
}

/** One validated item of a batch. */
export interface NewBatchItem {
  /** 0-based position in the upload. */
  index: number;
  customId: string | null;
  type: string;
  input: Record<string, unknown>;
  metadata: Record<string, unknown>;
  maxAttempts: number;
  cost: number;
}

/** A step as a run snapshots it: the type's attempts and cost are fixed when the run starts. */
export interface RunStep {
  type: string;
  params?: Record<string, unknown>;
  maxAttempts: number;
  cost: number;
}

/** A job as a worker claims it. */
export interface ClaimedJob {
  id: string;
  user_id: string;
  type: string;
  input: unknown;
  attempts: number;
  max_attempts: number;
  batch_id: string | null;
  pipeline_run_id: string | null;
}

/**
 * One committed change of a job's status: what the change feed publishes. `from` is null for a
 * job just created; `durationMs` is set when the job ended (started → finished), else null.
 */
export interface JobTransition {
  jobId: string;
  userId: string;
  batchId: string | null;
  runId: string | null;
  type: string;
  from: JobStatus | null;
  to: JobStatus;
  durationMs: number | null;
}

/** What the change feed publishes: a job's transition, or a batch or pipeline run that ended. */
export type QueueChange =
  | ({ kind: 'job' } & JobTransition)
  | { kind: 'batch'; batchId: string; userId: string; status: BatchStatus }
  | { kind: 'run'; runId: string; userId: string; status: RunStatus };
