import { Ajv } from 'ajv';
import type { Readable } from 'node:stream';
import { DomainError, type FieldError } from '../../common/errors/domain-error.js';
import { describeJsonProblem, jsonBytes, metadataTooLarge, scanJson } from '../../common/http/json-scan.js';
import type { AppConfig } from '../../config/config.js';
import type { JobTypeRegistry } from '../job-types/job-type.registry.js';
import type { NewBatchItem } from '../queue/queue.types.js';

/** A validated item: what JobLifecycle.enqueueBatch takes. */
export type BatchItem = NewBatchItem;

/** Errors listed in a 422; the total is always given. */
export const MAX_LISTED_ERRORS = 100;

const ITEM_SCHEMA = {
  type: 'object',
  required: ['type', 'input'],
  additionalProperties: false,
  properties: {
    customId: { type: 'string', minLength: 1, maxLength: 200 },
    type: { type: 'string', minLength: 1, maxLength: 100 },
    input: { type: 'object' },
    metadata: { type: 'object' },
  },
} as const;

const validateEnvelope = new Ajv({ allErrors: true }).compile(ITEM_SCHEMA);

/** The bounds of one item, from the configuration. */
export interface ItemLimits {
  /**
   * The largest item in bytes (an NDJSON line as sent, an element of `items` as compact JSON):
   * BODY_LIMIT_BYTES, so an item is never larger than the POST /jobs body that would create the
   * same job, and its `input` is bounded as that body's is.
   */
  itemBytes: number;
  /** METADATA_LIMIT_BYTES, for each item's `metadata` and the batch's own. */
  metadataBytes: number;
  /** JSON_MAX_DEPTH, for each NDJSON line (a JSON body was scanned before it got here). */
  jsonMaxDepth: number;
}

/**
 * Validates a batch's items one by one as they arrive (from a JSON array or NDJSON lines) and
 * keeps the valid ones. Nothing is written unless every item passes: `finish()` throws one 422
 * listing the first MAX_LISTED_ERRORS problems, each naming its item (`items[3]`) or line
 * (`line[4]`), with the total in `totalErrors`.
 */
export class BatchItemsValidator {
  readonly items: BatchItem[] = [];
  private readonly errors: FieldError[] = [];
  private totalErrors = 0;
  private readonly customIds = new Set<string>();
  private count = 0;
  readonly limits: ItemLimits;

  constructor(
    private readonly types: JobTypeRegistry,
    private readonly maxItems: number,
    private readonly tier: string,
    config: Pick<AppConfig, 'http' | 'limits'>,
  ) {
    this.limits = {
      itemBytes: config.http.bodyLimitBytes,
      metadataBytes: config.limits.metadataBytes,
      jsonMaxDepth: config.limits.jsonMaxDepth,
    };
  }

  /** How many items were offered so far. */
  get seen(): number {
    return this.count;
  }

  /** True once more than the tier's maximum was offered: the caller may stop reading. */
  get overLimit(): boolean {
    return this.count > this.maxItems;
  }

  /**
   * Checks one item. `bytes` is its size as sent (an NDJSON line); without it (an element of a JSON
   * body) the item is measured as compact JSON.
   */
  add(raw: unknown, where: string, bytes?: number): void {
    const index = this.count;
    this.count += 1;
    if (this.overLimit) return;
    const size = bytes ?? jsonBytes(raw);
    if (size > this.limits.itemBytes) {
      this.fail(where, this.tooLarge(size));
      return;
    }
    if (!validateEnvelope(raw)) {
      for (const e of validateEnvelope.errors ?? []) {
        const field = e.instancePath ? `${where}${e.instancePath.replace(/\//g, '.')}` : where;
        const extra = e.keyword === 'additionalProperties' ? ` (${String(e.params.additionalProperty)})` : '';
        this.fail(field, `${e.message ?? 'is invalid'}${extra}`);
      }
      return;
    }
    const item = raw as {
      customId?: string;
      type: string;
      input: Record<string, unknown>;
      metadata?: Record<string, unknown>;
    };
    const type = this.types.get(item.type);
    const problems = this.types.validateInput(item.type, item.input);
    const metadataError = metadataTooLarge(item.metadata, this.limits.metadataBytes);
    if (metadataError) problems.push(metadataError);
    for (const p of problems) this.fail(`${where}.${p.field}`, p.message);
    if (item.customId !== undefined) {
      if (this.customIds.has(item.customId)) this.fail(`${where}.customId`, `duplicate customId "${item.customId}"`);
      this.customIds.add(item.customId);
    }
    if (!type || problems.length) return;
    this.items.push({
      index,
      customId: item.customId ?? null,
      type: type.name,
      input: item.input,
      metadata: item.metadata ?? {},
      maxAttempts: type.maxAttempts,
      cost: type.cost,
    });
  }

  /** A line that cannot become an item at all (not JSON, unstorable text, too deep, too long). */
  unparsable(where: string, message: string): void {
    this.count += 1;
    if (!this.overLimit) this.fail(where, message);
  }

  /** The batch's own `metadata` (JSON form), under the same limit as an item's. */
  checkBatchMetadata(metadata: unknown): void {
    const error = metadataTooLarge(metadata, this.limits.metadataBytes);
    if (error) this.fail(error.field, error.message);
  }

  /** The message for an item of `bytes` bytes, over the limit. */
  tooLarge(bytes: number): string {
    return `is ${bytes} bytes; an item may be at most ${this.limits.itemBytes} bytes (BODY_LIMIT_BYTES), like a POST /jobs body`;
  }

  /** The valid items, or a 422 naming what is wrong. */
  finish(): BatchItem[] {
    if (this.count === 0) throw invalid([{ field: 'items', message: 'a batch needs at least one item' }], 1);
    if (this.overLimit) {
      throw invalid(
        [{ field: 'items', message: `a ${this.tier} batch holds at most ${this.maxItems} items; this one has more` }],
        1,
      );
    }
    if (this.totalErrors > 0) throw invalid(this.errors, this.totalErrors, this.count);
    return this.items;
  }

  private fail(field: string, message: string): void {
    this.totalErrors += 1;
    if (this.errors.length < MAX_LISTED_ERRORS) this.errors.push({ field, message });
  }
}

function invalid(errors: FieldError[], total: number, items?: number): DomainError {
  const detail =
    items === undefined
      ? errors[0].message
      : `The batch has ${total} problem(s) in ${items} item(s)` +
        (total > errors.length ? `; the first ${errors.length} are listed` : '') +
        '. Nothing was created.';
  return new DomainError('VALIDATION_FAILED', detail, { errors, extensions: { totalErrors: total } });
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Reads an NDJSON body line by line (`{customId?, type, input, metadata?}` per line; blank lines
 * are skipped) into the validator, without holding the raw body. Lines end at LF, CRLF or CR, as
 * `readline` splits them. A line is held only up to the largest allowed item
 * (`validator.limits.itemBytes`): past that its bytes are counted and dropped as they arrive, and
 * the line is one 422 entry, so an over-long line costs no memory however long it is. Stops reading
 * once the tier's maximum is exceeded. Line numbers are 1-based, as editors show them.
 */
export async function readNdjson(body: Readable, validator: BatchItemsValidator): Promise<void> {
  const { itemBytes, jsonMaxDepth } = validator.limits;
  let parts: Buffer[] = [];
  let size = 0;
  let number = 0;
  let afterCr = false;

  const take = (piece: Buffer): void => {
    size += piece.length;
    if (size <= itemBytes) parts.push(piece);
    else parts = [];
  };

  /** Ends the current line; true when reading should stop. */
  const endLine = (): boolean => {
    number += 1;
    const where = `line[${number}]`;
    if (size > itemBytes) validator.unparsable(where, validator.tooLarge(size));
    else checkLine(Buffer.concat(parts, size).toString('utf8'), where, size);
    parts = [];
    size = 0;
    return validator.overLimit;
  };

  const checkLine = (line: string, where: string, bytes: number): void => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      validator.unparsable(where, `not valid JSON: ${(error as Error).message}`);
      return;
    }
    const problem = scanJson(value, { maxDepth: jsonMaxDepth, name: 'the line' });
    if (problem) {
      validator.unparsable(where, `${problem.field} ${describeJsonProblem(problem, jsonMaxDepth)}`);
      return;
    }
    validator.add(value, where, bytes);
  };

  for await (const data of body as AsyncIterable<Buffer | string>) {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    if (chunk.length === 0) continue;
    // A CR ended the previous chunk: an LF right after it belongs to that line break.
    let start = afterCr && chunk[0] === LF ? 1 : 0;
    afterCr = false;
    let lf = chunk.indexOf(LF, start);
    let cr = chunk.indexOf(CR, start);
    for (;;) {
      if (lf !== -1 && lf < start) lf = chunk.indexOf(LF, start);
      if (cr !== -1 && cr < start) cr = chunk.indexOf(CR, start);
      const end = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr);
      if (end === -1) {
        take(chunk.subarray(start));
        break;
      }
      take(chunk.subarray(start, end));
      if (endLine()) {
        body.destroy();
        return;
      }
      start = end + 1;
      if (chunk[end] === CR) {
        if (start === chunk.length) afterCr = true;
        else if (chunk[start] === LF) start += 1;
      }
    }
  }
  if (size > 0) endLine();
}
