import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { Principal } from '../../common/auth/principal.js';
import { AppConfig } from '../../config/config.js';
import { DomainError, NotFoundError, ValidationFailedError } from '../../common/errors/domain-error.js';
import { metadataTooLarge } from '../../common/http/json-scan.js';
import { decodeCursor, toPage, type Page } from '../../common/pagination/pagination.js';
import type { CreateJobDto, JobResponseDto, JobResultDto, JobTypeDto, ListJobsQueryDto } from './dto/job.dto.js';
import { toJobResponse } from './dto/job.dto.js';
import { JobTypeRegistry } from '../job-types/job-type.registry.js';
import { JobLifecycle } from '../queue/job-lifecycle.service.js';
import type { JobRow } from '../queue/queue.types.js';
import { JobsRepository } from './jobs.repository.js';

/** Canonical JSON (sorted keys) so that the same body hashes the same whatever its key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value instanceof Date ? value.toISOString() : value);
}

export interface CreatedJob {
  job: JobResponseDto;
  /** True when an Idempotency-Key replay returned the original job. */
  replayed: boolean;
}

@Injectable()
export class JobsService {
  constructor(
    private readonly jobs: JobsRepository,
    private readonly lifecycle: JobLifecycle,
    private readonly types: JobTypeRegistry,
    private readonly config: AppConfig,
  ) {}

  listTypes(): JobTypeDto[] {
    return this.types.list().map((t) => ({
      name: t.name,
      description: t.description,
      inputSchema: t.inputSchema,
      cost: t.cost,
      timeoutMs: t.timeoutMs,
      maxAttempts: t.maxAttempts,
      example: t.example,
    }));
  }

  async create(me: Principal, dto: CreateJobDto, idempotencyKey?: string): Promise<CreatedJob> {
    const userId = me.userId;
    const type = this.types.get(dto.type);
    const errors = this.types.validateInput(dto.type, dto.input);
    // Fair use: a high priority jumps everyone's queue, so how high is the tier's to give.
    const maxPriority = this.config.fairness.maxPriority[me.tier];
    if (dto.priority !== undefined && dto.priority > maxPriority) {
      errors.push({ field: 'priority', message: `must not be greater than ${maxPriority} for tier ${me.tier}` });
    }
    const metadataError = metadataTooLarge(dto.metadata, this.config.limits.metadataBytes);
    if (metadataError) errors.push(metadataError);
    if (!type || errors.length) throw new ValidationFailedError(errors, 'The job is invalid');

    const requestHash = idempotencyKey ? createHash('sha256').update(canonical(dto)).digest('hex') : null;
    const row = await this.lifecycle.enqueue({
      userId,
      type: type.name,
      input: dto.input,
      priority: dto.priority ?? 0,
      runAt: dto.runAt ?? null,
      maxAttempts: dto.maxAttempts ?? type.maxAttempts,
      metadata: dto.metadata ?? {},
      cost: type.cost,
      idempotencyKey: idempotencyKey ?? null,
      requestHash,
      creditLimit: this.config.credits[me.tier],
    });
    if (row) return { job: toJobResponse(row), replayed: false };

    // The key was used before (with credits left or not): same body → the original job; different body → 409.
    const original = await this.jobs.findByIdempotencyKey(userId, idempotencyKey!);
    if (!original) throw new Error('idempotency conflict without an original job');
    if (original.request_hash !== requestHash) {
      throw new DomainError('IDEMPOTENCY_CONFLICT', 'This Idempotency-Key was used with a different request body');
    }
    return { job: toJobResponse(original), replayed: true };
  }

  async get(userId: string, id: string): Promise<JobResponseDto> {
    return toJobResponse(await this.find(userId, id));
  }

  async list(userId: string, query: ListJobsQueryDto): Promise<Page<JobResponseDto>> {
    const rows = await this.jobs.list(userId, query, query.limit, decodeCursor(query.cursor));
    return toPage(rows, query.limit, toJobResponse);
  }

  async result(userId: string, id: string): Promise<JobResultDto> {
    const job = await this.find(userId, id);
    if (job.status !== 'completed') {
      throw new DomainError('JOB_NOT_FINISHED', `Job ${id} is ${job.status}; it has no result`);
    }
    const result = await this.jobs.findResult(userId, id);
    // A completed job always gets its result in the same transaction; only retention removes it.
    if (!result) throw new DomainError('RESULT_EXPIRED', `The result of job ${id} was deleted by the retention policy`);
    return { jobId: id, output: result.output, createdAt: result.created_at.toISOString() };
  }

  async cancel(userId: string, id: string): Promise<JobResponseDto> {
    const row = await this.lifecycle.cancel(userId, id);
    if (row) return toJobResponse(row);
    const job = await this.find(userId, id);
    throw new DomainError(
      'JOB_NOT_CANCELLABLE',
      `Job ${id} is ${job.status}; only queued or running jobs can be cancelled`,
    );
  }

  async retry(userId: string, id: string): Promise<JobResponseDto> {
    const row = await this.lifecycle.retry(userId, id);
    if (row) return toJobResponse(row);
    const job = await this.find(userId, id);
    if ((job.status === 'failed' || job.status === 'cancelled') && (job.batch_id || job.pipeline_run_id)) {
      throw new DomainError(
        'JOB_NOT_RETRYABLE',
        `Job ${id} belongs to a ${job.batch_id ? 'batch' : 'pipeline run'} that has ended; its outcome is final`,
      );
    }
    throw new DomainError(
      'JOB_NOT_RETRYABLE',
      `Job ${id} is ${job.status}; only failed or cancelled jobs can be retried`,
    );
  }

  private async find(userId: string, id: string): Promise<JobRow> {
    const row = await this.jobs.findById(userId, id);
    if (!row) throw new NotFoundError('Job');
    return row;
  }
}
