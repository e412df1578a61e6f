/**
 * The webhook event types, with a JSON Schema and an example of each `data` (served by
 * GET /webhooks/event-types). Every delivery's body is the envelope
 * `{id: "evt_…", type, createdAt, data}`.
 */

const isoTime = { type: 'string', format: 'date-time' } as const;
const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const;
const uuid = { type: 'string', format: 'uuid' } as const;
const nullableUuid = { type: ['string', 'null'], format: 'uuid' } as const;

const JOB_PROPERTIES = {
  id: uuid,
  type: { type: 'string', description: 'The job type' },
  status: { enum: ['queued', 'running', 'completed', 'failed', 'cancelled'] },
  priority: { type: 'integer' },
  metadata: { type: 'object' },
  attempts: { type: 'integer' },
  maxAttempts: { type: 'integer' },
  batchId: nullableUuid,
  pipelineRunId: nullableUuid,
  error: {
    type: ['object', 'null'],
    properties: { code: { type: 'string' }, message: { type: 'string' } },
  },
  cost: { type: 'integer' },
  runAt: isoTime,
  createdAt: isoTime,
  startedAt: nullableTime,
  finishedAt: nullableTime,
} as const;

const JOB_REQUIRED = Object.keys(JOB_PROPERTIES);

function jobSchema(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'object',
    description: 'The job, as GET /jobs/{id} returns it without its input',
    properties: { ...JOB_PROPERTIES, ...extra },
    required: [...JOB_REQUIRED, ...Object.keys(extra)],
  };
}

const exampleJob = {
  id: '0b5c2f0e-8d1a-4c55-9a43-2f6f1b7f0c11',
  type: 'hash',
  status: 'queued',
  priority: 0,
  metadata: { customer: 'c_42' },
  attempts: 0,
  maxAttempts: 3,
  batchId: null,
  pipelineRunId: null,
  error: null,
  cost: 1,
  runAt: '2026-11-28T12:00:00.000Z',
  createdAt: '2026-11-28T12:00:00.000Z',
  startedAt: null,
  finishedAt: null,
};

const BATCH_SCHEMA = {
  type: 'object',
  properties: {
    id: uuid,
    status: { enum: ['in_progress', 'completed', 'cancelling', 'cancelled'] },
    counts: {
      type: 'object',
      properties: Object.fromEntries(
        ['total', 'queued', 'running', 'completed', 'failed', 'cancelled'].map((s) => [s, { type: 'integer' }]),
      ),
      required: ['total', 'queued', 'running', 'completed', 'failed', 'cancelled'],
    },
    metadata: { type: 'object' },
    createdAt: isoTime,
    completedAt: nullableTime,
  },
  required: ['id', 'status', 'counts', 'metadata', 'createdAt', 'completedAt'],
};

const exampleBatch = {
  id: '5d6f0a3c-1b2e-4f7a-8c9d-0e1f2a3b4c5d',
  status: 'in_progress',
  counts: { total: 1000, queued: 1000, running: 0, completed: 0, failed: 0, cancelled: 0 },
  metadata: {},
  createdAt: '2026-11-28T12:00:00.000Z',
  completedAt: null,
};

const PIPELINE_RUN_SCHEMA = {
  type: 'object',
  properties: {
    id: uuid,
    pipelineId: uuid,
    status: { enum: ['running', 'completed', 'failed', 'cancelled'] },
    output: {},
    error: { type: ['object', 'null'] },
    createdAt: isoTime,
    finishedAt: nullableTime,
  },
  required: ['id', 'pipelineId', 'status', 'createdAt'],
};

const examplePipelineRun = {
  id: '7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d',
  pipelineId: '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d',
  status: 'completed',
  output: { sha256: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824' },
  error: null,
  createdAt: '2026-11-28T12:00:00.000Z',
  finishedAt: '2026-11-28T12:00:02.000Z',
};

export interface EventTypeInfo {
  description: string;
  schema: Record<string, unknown>;
  example: Record<string, unknown>;
}

export const EVENT_CATALOG = {
  'job.created': {
    description:
      'A job was accepted: POST /jobs, or a pipeline step starting. (Batch items are announced by batch.created.)',
    schema: jobSchema(),
    example: exampleJob,
  },
  'job.started': {
    description: 'A worker started an attempt of the job (sent for every attempt).',
    schema: jobSchema(),
    example: { ...exampleJob, status: 'running', attempts: 1, startedAt: '2026-11-28T12:00:01.000Z' },
  },
  'job.completed': {
    description: 'The job completed; `output` is its result.',
    schema: jobSchema({ output: { description: 'The job’s output, as GET /jobs/{id}/result returns it' } }),
    example: {
      ...exampleJob,
      status: 'completed',
      attempts: 1,
      startedAt: '2026-11-28T12:00:01.000Z',
      finishedAt: '2026-11-28T12:00:01.020Z',
      output: { algorithm: 'sha256', hex: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824' },
    },
  },
  'job.failed': {
    description: 'The job failed for good: its last attempt failed, or the error was not retryable.',
    schema: jobSchema(),
    example: {
      ...exampleJob,
      status: 'failed',
      attempts: 3,
      error: { code: 'HANDLER_ERROR', message: 'upstream returned 500' },
      startedAt: '2026-11-28T12:00:09.000Z',
      finishedAt: '2026-11-28T12:00:09.500Z',
    },
  },
  'job.cancelled': {
    description: 'The job was cancelled (POST /jobs/{id}/cancel, or its batch or pipeline run was).',
    schema: jobSchema(),
    example: { ...exampleJob, status: 'cancelled', finishedAt: '2026-11-28T12:00:00.500Z' },
  },
  'batch.created': {
    description: 'A batch and all its jobs were accepted.',
    schema: BATCH_SCHEMA,
    example: exampleBatch,
  },
  'batch.completed': {
    description:
      'The batch ended: every job finished (status completed), or it was cancelled (status cancelled). Sent once per batch, with the final counts.',
    schema: BATCH_SCHEMA,
    example: {
      ...exampleBatch,
      status: 'completed',
      counts: { total: 1000, queued: 0, running: 0, completed: 998, failed: 2, cancelled: 0 },
      completedAt: '2026-11-28T12:05:00.000Z',
    },
  },
  'pipeline.completed': {
    description: 'The last step of a pipeline run completed; `output` is its output.',
    schema: PIPELINE_RUN_SCHEMA,
    example: examplePipelineRun,
  },
  'pipeline.failed': {
    description: 'A step of a pipeline run failed, so the run failed.',
    schema: PIPELINE_RUN_SCHEMA,
    example: {
      ...examplePipelineRun,
      status: 'failed',
      output: null,
      error: { code: 'STEP_FAILED', message: 'step 2 (hash) failed' },
    },
  },
  'webhook.test': {
    description: 'Sent by POST /webhooks/{id}/test, to this endpoint only, whatever it subscribes to.',
    schema: {
      type: 'object',
      properties: { webhookId: uuid, message: { type: 'string' } },
      required: ['webhookId', 'message'],
    },
    example: { webhookId: '9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a', message: 'Test event from Conveyor' },
  },
} satisfies Record<string, EventTypeInfo>;

export type EventType = keyof typeof EVENT_CATALOG;
export const EVENT_TYPES = Object.keys(EVENT_CATALOG) as EventType[];

/** Public event ids are `evt_` + the row's UUID without dashes. */
export function toEventId(uuidValue: string): string {
  return `evt_${uuidValue.replace(/-/g, '')}`;
}

/** The row UUID of an `evt_…` id, or undefined when it is not one. */
export function fromEventId(eventId: string): string | undefined {
  const match = /^evt_([0-9a-f]{8})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{12})$/i.exec(eventId);
  return match ? match.slice(1).join('-').toLowerCase() : undefined;
}
