import { Injectable } from '@nestjs/common';
import type { Keyset } from '../../common/pagination/pagination.js';
import { Db } from '../../database/db.js';
import type { JobStatus, RunStatus, RunStep } from '../queue/queue.types.js';
import {
  DELETE_PIPELINE,
  FIND_PIPELINE,
  FIND_RUN,
  INSERT_PIPELINE,
  LIST_PIPELINES,
  LIST_RUNS,
} from './pipelines.sql.js';

export interface PipelineRow {
  id: string;
  name: string;
  description: string | null;
  steps: Array<{ type: string; params?: Record<string, unknown> }>;
  created_at: Date;
  cursor_ts: string;
}

export interface RunRow {
  id: string;
  pipeline_id: string;
  status: RunStatus;
  current_step: number;
  steps: RunStep[];
  output: unknown;
  error: Record<string, unknown> | null;
  metadata: Record<string, unknown>;
  created_at: Date;
  finished_at: Date | null;
  cursor_ts: string;
  /** Each started step's job, by step index. */
  jobs: Array<{ step: number; id: string; status: JobStatus }>;
}

/** Pipelines and the reads of their runs; starting and cancelling a run is JobLifecycle's. Every statement takes the owner. */
@Injectable()
export class PipelinesRepository {
  constructor(private readonly db: Db) {}

  async insert(userId: string, name: string, description: string | null, steps: unknown): Promise<PipelineRow> {
    const [row] = await this.db.query(INSERT_PIPELINE, [userId, name, description, JSON.stringify(steps)]);
    return row;
  }

  list(userId: string, limit: number, after?: Keyset): Promise<PipelineRow[]> {
    return this.db.reader.query(LIST_PIPELINES, [userId, after?.createdAt ?? null, after?.id ?? null, limit + 1]);
  }

  /** From the primary: a run is started from what this returns. */
  /** `lagOk`: a plain read (GET), which a replica may serve; a write's own look-up reads the primary. */
  async find(userId: string, id: string, lagOk = false): Promise<PipelineRow | undefined> {
    return (await (lagOk ? this.db.reader : this.db).query(FIND_PIPELINE, [id, userId]))[0];
  }

  async softDelete(userId: string, id: string): Promise<boolean> {
    return (await this.db.query(DELETE_PIPELINE, [id, userId])).length > 0;
  }

  /** From the primary: it follows a run's start or cancel as often as a plain GET. */
  async findRun(userId: string, id: string, lagOk = false): Promise<RunRow | undefined> {
    return (await (lagOk ? this.db.reader : this.db).query(FIND_RUN, [id, userId]))[0];
  }

  listRuns(userId: string, status: RunStatus | undefined, limit: number, after?: Keyset): Promise<RunRow[]> {
    return this.db.reader.query(LIST_RUNS, [
      userId,
      status ?? null,
      after?.createdAt ?? null,
      after?.id ?? null,
      limit + 1,
    ]);
  }
}
