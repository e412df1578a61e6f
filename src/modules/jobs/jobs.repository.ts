import { Injectable } from '@nestjs/common';
import type { Keyset } from '../../common/pagination/pagination.js';
import { Db } from '../../database/db.js';
import type { JobRow, JobStatus } from '../queue/queue.types.js';
import { FIND_BY_IDEMPOTENCY_KEY, FIND_JOB, FIND_RESULT, LIST_JOBS } from './jobs.sql.js';

export interface JobFilters {
  status?: JobStatus;
  type?: string;
  batchId?: string;
  createdAfter?: Date;
  createdBefore?: Date;
}

/** The Jobs API's reads. Every read by id takes the owner; writes go through JobLifecycle. */
@Injectable()
export class JobsRepository {
  constructor(private readonly db: Db) {}

  /** From the primary: it follows a write that found the key taken. */
  async findByIdempotencyKey(userId: string, key: string): Promise<JobRow | undefined> {
    return (await this.db.query(FIND_BY_IDEMPOTENCY_KEY, [userId, key]))[0];
  }

  async findById(userId: string, id: string): Promise<JobRow | undefined> {
    return (await this.db.reader.query(FIND_JOB, [id, userId]))[0];
  }

  /** A user's jobs, newest first (`limit + 1` rows: the extra one says whether there is a next page). */
  list(userId: string, filters: JobFilters, limit: number, after?: Keyset): Promise<JobRow[]> {
    return this.db.reader.query(LIST_JOBS, [
      userId,
      filters.status ?? null,
      filters.type ?? null,
      filters.batchId ?? null,
      filters.createdAfter ?? null,
      filters.createdBefore ?? null,
      after?.createdAt ?? null,
      after?.id ?? null,
      limit + 1,
    ]);
  }

  async findResult(userId: string, jobId: string): Promise<{ output: unknown; created_at: Date } | undefined> {
    return (await this.db.reader.query(FIND_RESULT, [jobId, userId]))[0];
  }
}
