import { Injectable } from '@nestjs/common';
import type { Principal } from '../../common/auth/principal.js';
import {
  DomainError,
  NotFoundError,
  ValidationFailedError,
  type FieldError,
} from '../../common/errors/domain-error.js';
import { metadataTooLarge } from '../../common/http/json-scan.js';
import { decodeCursor, toPage, type Page, type PageQueryDto } from '../../common/pagination/pagination.js';
import { AppConfig } from '../../config/config.js';
import { JobTypeRegistry } from '../job-types/job-type.registry.js';
import type {
  CreatePipelineDto,
  CreateRunDto,
  ListRunsQueryDto,
  PipelineResponseDto,
  RunResponseDto,
} from './dto/pipeline.dto.js';
import { JobLifecycle } from '../queue/job-lifecycle.service.js';
import type { RunStep } from '../queue/queue.types.js';
import { PipelinesRepository, type PipelineRow, type RunRow } from './pipelines.repository.js';

function toPipeline(row: PipelineRow): PipelineResponseDto {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    steps: row.steps,
    createdAt: row.created_at.toISOString(),
  };
}

function toRun(row: RunRow): RunResponseDto {
  // The latest job of each step (a retried step keeps its job id; a step not reached has none).
  const jobs = new Map(row.jobs.map((j) => [j.step, j]));
  return {
    id: row.id,
    pipelineId: row.pipeline_id,
    status: row.status,
    currentStep: row.current_step,
    steps: row.steps.map((step, index) => ({
      index,
      type: step.type,
      jobId: jobs.get(index)?.id ?? null,
      status: jobs.get(index)?.status ?? 'pending',
    })),
    output: row.output ?? null,
    error: row.error,
    metadata: row.metadata,
    createdAt: row.created_at.toISOString(),
    finishedAt: row.finished_at?.toISOString() ?? null,
  };
}

/** The same merge as the queue's SQL (mergedInput in queue.fragments.ts): previous output ⊕ params, params winning. */
function merge(previous: unknown, params: Record<string, unknown> | undefined): Record<string, unknown> {
  const base =
    typeof previous === 'object' && previous !== null && !Array.isArray(previous)
      ? (previous as Record<string, unknown>)
      : { value: previous };
  return { ...base, ...params };
}

@Injectable()
export class PipelinesService {
  constructor(
    private readonly repo: PipelinesRepository,
    private readonly lifecycle: JobLifecycle,
    private readonly types: JobTypeRegistry,
    private readonly config: AppConfig,
  ) {}

  /**
   * Every step's type must exist, and its params must fit that type's input schema as far as
   * they go: each given property is checked; properties the step's input will get from the
   * previous output (the schema's `required`) are not demanded of the params.
   */
  async create(userId: string, dto: CreatePipelineDto): Promise<PipelineResponseDto> {
    const errors: FieldError[] = [];
    dto.steps.forEach((step, i) => {
      const type = this.types.get(step.type);
      if (!type) {
        errors.push({ field: `steps[${i}].type`, message: `unknown job type "${step.type}"` });
        return;
      }
      for (const e of this.types.validateParams(type.name, step.params ?? {})) {
        errors.push({ field: `steps[${i}].${e.field}`, message: e.message });
      }
    });
    if (errors.length) throw new ValidationFailedError(errors, 'The pipeline is invalid');
    const steps = dto.steps.map((s) => (s.params ? { type: s.type, params: s.params } : { type: s.type }));
    return toPipeline(await this.repo.insert(userId, dto.name, dto.description ?? null, steps));
  }

  async list(userId: string, query: PageQueryDto): Promise<Page<PipelineResponseDto>> {
    return toPage(await this.repo.list(userId, query.limit, decodeCursor(query.cursor)), query.limit, toPipeline);
  }

  async get(userId: string, id: string): Promise<PipelineResponseDto> {
    return toPipeline(await this.find(userId, id, true));
  }

  async remove(userId: string, id: string): Promise<void> {
    if (!(await this.repo.softDelete(userId, id))) throw new NotFoundError('Pipeline');
  }

  /** Starts a run: the first step's input (run input ⊕ its params) is validated now, the later ones by the worker. */
  async startRun(me: Principal, pipelineId: string, dto: CreateRunDto): Promise<RunResponseDto> {
    const userId = me.userId;
    const pipeline = await this.find(userId, pipelineId);
    const steps: RunStep[] = pipeline.steps.map((step) => {
      const type = this.types.get(step.type);
      if (!type) {
        // The operator removed a remote type since the pipeline was defined.
        throw new DomainError('CONFLICT', `Job type "${step.type}" of this pipeline no longer exists`);
      }
      return { ...step, maxAttempts: type.maxAttempts, cost: type.cost };
    });
    const firstInput = merge(dto.input, steps[0].params);
    const metadataError = metadataTooLarge(dto.metadata, this.config.limits.metadataBytes);
    if (metadataError) throw new ValidationFailedError([metadataError], 'The run is invalid');
    const errors = this.types.validateInput(steps[0].type, firstInput);
    if (errors.length) throw new ValidationFailedError(errors, 'The input does not fit the first step');
    const runId = await this.lifecycle.startRun(
      userId,
      pipelineId,
      steps,
      dto.input,
      firstInput,
      dto.metadata ?? {},
      this.config.credits[me.tier],
    );
    return toRun(await this.findRun(userId, runId));
  }

  async getRun(userId: string, id: string): Promise<RunResponseDto> {
    return toRun(await this.findRun(userId, id, true));
  }

  async listRuns(userId: string, query: ListRunsQueryDto): Promise<Page<RunResponseDto>> {
    const rows = await this.repo.listRuns(userId, query.status, query.limit, decodeCursor(query.cursor));
    return toPage(rows, query.limit, toRun);
  }

  async cancelRun(userId: string, id: string): Promise<RunResponseDto> {
    const cancelled = await this.lifecycle.cancelRun(userId, id);
    const run = await this.findRun(userId, id);
    if (!cancelled)
      throw new DomainError('CONFLICT', `Run ${id} is ${run.status}; only a running run can be cancelled`);
    return toRun(run);
  }

  private async find(userId: string, id: string, lagOk = false): Promise<PipelineRow> {
    const row = await this.repo.find(userId, id, lagOk);
    if (!row) throw new NotFoundError('Pipeline');
    return row;
  }

  private async findRun(userId: string, id: string, lagOk = false): Promise<RunRow> {
    const row = await this.repo.findRun(userId, id, lagOk);
    if (!row) throw new NotFoundError('Pipeline run');
    return row;
  }
}
