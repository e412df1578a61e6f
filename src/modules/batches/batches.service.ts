import { Injectable, Logger } from '@nestjs/common';
import { pipeline, Readable, Transform } from 'node:stream';
import type { Principal } from '../../common/auth/principal.js';
import { DomainError, NotFoundError, ValidationFailedError } from '../../common/errors/domain-error.js';
import { decodeCursor, toPage, type Page } from '../../common/pagination/pagination.js';
import { AppConfig } from '../../config/config.js';
import { JobTypeRegistry } from '../job-types/job-type.registry.js';
import { BatchItemsValidator, readNdjson } from './batch-items.js';
import { formatResults } from './batch-results.js';
import { StreamUnavailableError } from '../../database/db.js';
import { JobLifecycle } from '../queue/job-lifecycle.service.js';
import { DownloadSlots } from './download-slots.js';
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

export interface ResultsDownload {
  stream: Readable;
  stallTimeoutMs: number;
  done: (outcome: 'finished' | 'stalled' | 'aborted') => void;
}

@Injectable()
export class BatchesService {
  private readonly logger = new Logger('Batches');
  private readonly downloads: DownloadSlots;

  constructor(
    private readonly repo: BatchesRepository,
    private readonly lifecycle: JobLifecycle,
    private readonly types: JobTypeRegistry,
    private readonly config: AppConfig,
  ) {
    this.downloads = new DownloadSlots(config.downloads.maxPerUser);
  }

  /** A JSON body `{items, metadata?}` or an NDJSON stream; every item is checked before anything is written. */
  async create(me: Principal, body: unknown): Promise<BatchResponseDto> {
    const validator = new BatchItemsValidator(this.types, this.config.batches.maxItems[me.tier], me.tier, this.config);
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
      validator.checkBatchMetadata(metadata);
      for (const [i, item] of (body.items as unknown[]).entries()) {
        validator.add(item, `items[${i}]`);
        if (validator.overLimit) break;
      }
    }
    const items = validator.finish();
    const id = await this.lifecycle.enqueueBatch(me.userId, items, metadata, this.config.credits[me.tier]);
    return toBatchResponse(await this.find(me.userId, id));
  }

  async get(userId: string, id: string): Promise<BatchResponseDto> {
    return toBatchResponse(await this.find(userId, id, true));
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

  /**
   * Opens a results download: checks ownership (404), takes one of the user's download slots on
   * this instance (429 beyond DOWNLOADS_MAX_PER_USER) and a connection of the stream pool (503
   * when none comes free), then streams the items in upload order. The caller sends the stream,
   * cutting off a client that stops reading for `stallTimeoutMs`, and calls `done` once the
   * response is over.
   */
  async openResults(userId: string, id: string, query: BatchResultsQueryDto): Promise<ResultsDownload> {
    await this.find(userId, id);
    const release = this.downloads.acquire(userId);
    try {
      const rows = await this.repo.streamResults(id, query.status);
      return {
        stream: formatResults(rows, query.format),
        stallTimeoutMs: this.config.downloads.stallTimeoutMs,
        done: (outcome) => {
          release();
          if (outcome === 'stalled')
            this.logger.log({ batchId: id, userId }, 'download cut off: the client stopped reading');
        },
      };
    } catch (error) {
      release();
      if (error instanceof StreamUnavailableError) {
        throw new DomainError('SERVICE_UNAVAILABLE', 'Every download connection is busy; try again shortly', {
          headers: { 'Retry-After': '5' },
        });
      }
      throw error;
    }
  }

  private async find(userId: string, id: string, lagOk = false): Promise<BatchRow> {
    const row = await this.repo.find(userId, id, lagOk);
    if (!row) throw new NotFoundError('Batch');
    return row;
  }
}
