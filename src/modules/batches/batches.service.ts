import { Injectable } from '@nestjs/common';
import { pipeline, Readable, Transform } from 'node:stream';
import type { Principal } from '../../common/auth/principal.js';
import { DomainError, NotFoundError, ValidationFailedError } from '../../common/errors/domain-error.js';
import { decodeCursor, toPage, type Page } from '../../common/pagination/pagination.js';
import { AppConfig } from '../../config/config.js';
import { JobTypeRegistry } from '../job-types/job-type.registry.js';
import { BatchItemsValidator, readNdjson } from './batch-items.js';
import { formatResults } from './batch-results.js';
import { JobLifecycle } from '../queue/job-lifecycle.service.js';
import { BatchesRepository, type BatchRow } from './batches.repository.js';
import type { BatchResponseDto, BatchResultsQueryDto, ListBatchesQueryDto } from './dto/batch.dto.js';

export function toBatchResponse(row: BatchRow): BatchResponseDto {
  return {
    id: row.id,
    status: row.status,
    counts: row.counts,
    metadata: row.metadata,
    createdAt: row.created_at.toISOString(),
    completedAt: row.completed_at?.toISOString() ?? null,
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Fails the stream with 413 once more than `limit` bytes have come through. */
function byteLimit(limit: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > limit) done(new DomainError('PAYLOAD_TOO_LARGE', `The batch body is larger than ${limit} bytes`));
      else done(null, chunk);
    },
  });
}

@Injectable()
export class BatchesService {
  constructor(
    private readonly repo: BatchesRepository,
    private readonly lifecycle: JobLifecycle,
    private readonly types: JobTypeRegistry,
    private readonly config: AppConfig,
  ) {}

  /** A JSON body `{items, metadata?}` or an NDJSON stream; every item is checked before anything is written. */
  async create(me: Principal, body: unknown): Promise<BatchResponseDto> {
    const validator = new BatchItemsValidator(this.types, this.config.batches.maxItems[me.tier], me.tier);
    let metadata: Record<string, unknown> = {};
    if (body instanceof Readable) {
      // pipeline, not pipe: a client that aborts mid-upload must end the read (pipe would leave the
      // line reader waiting forever, holding every item read so far).
      const limited = byteLimit(this.config.batches.bodyLimitBytes);
      pipeline(body, limited, () => undefined);
      await readNdjson(limited, validator);
    } else {
      if (!isObject(body))
        throw new ValidationFailedError([{ field: 'body', message: 'must be an object {items, metadata?}' }]);
      const unknown = Object.keys(body).filter((k) => k !== 'items' && k !== 'metadata');
      const problems = unknown.map((k) => ({ field: k, message: `property ${k} should not exist` }));
      if (!Array.isArray(body.items)) problems.push({ field: 'items', message: 'items must be an array' });
      if (body.metadata !== undefined && !isObject(body.metadata)) {
        problems.push({ field: 'metadata', message: 'metadata must be an object' });
      }
      if (problems.length) throw new ValidationFailedError(problems);
      metadata = (body.metadata as Record<string, unknown> | undefined) ?? {};
      for (const [i, item] of (body.items as unknown[]).entries()) {
        validator.add(item, `items[${i}]`);
        if (validator.overLimit) break;
      }
    }
    const items = validator.finish();
    const id = await this.lifecycle.enqueueBatch(me.userId, items, metadata);
    return toBatchResponse(await this.find(me.userId, id));
  }

  async get(userId: string, id: string): Promise<BatchResponseDto> {
    return toBatchResponse(await this.find(userId, id));
  }

  async list(userId: string, query: ListBatchesQueryDto): Promise<Page<BatchResponseDto>> {
    const rows = await this.repo.list(userId, query.status, query.limit, decodeCursor(query.cursor));
    return toPage(rows, query.limit, toBatchResponse);
  }

  async cancel(userId: string, id: string): Promise<BatchResponseDto> {
    const cancelled = await this.lifecycle.cancelBatch(userId, id);
    const batch = await this.find(userId, id);
    if (!cancelled) {
      throw new DomainError('CONFLICT', `Batch ${id} is ${batch.status}; only a batch in progress can be cancelled`);
    }
    return toBatchResponse(batch);
  }

  /** Checks ownership first (404), then streams the items in upload order. */
  async results(userId: string, id: string, query: BatchResultsQueryDto): Promise<Readable> {
    await this.find(userId, id);
    const rows = await this.repo.streamResults(id, query.status);
    return formatResults(rows, query.format);
  }

  private async find(userId: string, id: string): Promise<BatchRow> {
    const row = await this.repo.find(userId, id);
    if (!row) throw new NotFoundError('Batch');
    return row;
  }
}
