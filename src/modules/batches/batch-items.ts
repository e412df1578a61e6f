import { Ajv } from 'ajv';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { DomainError, type FieldError } from '../../common/errors/domain-error.js';
import { findNul } from '../../common/http/nul.js';
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

  constructor(
    private readonly types: JobTypeRegistry,
    private readonly maxItems: number,
    private readonly tier: string,
  ) {}

  /** How many items were offered so far. */
  get seen(): number {
    return this.count;
  }

  /** True once more than the tier's maximum was offered: the caller may stop reading. */
  get overLimit(): boolean {
    return this.count > this.maxItems;
  }

  add(raw: unknown, where: string): void {
    const index = this.count;
    this.count += 1;
    if (this.overLimit) return;
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

  /** A line that cannot become an item at all (not JSON, or holding NUL). */
  unparsable(where: string, message: string): void {
    this.count += 1;
    if (!this.overLimit) this.fail(where, message);
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

/**
 * Reads an NDJSON body line by line (`{customId?, type, input, metadata?}` per line; blank lines
 * are skipped) into the validator, without holding the raw body. Stops reading once the tier's
 * maximum is exceeded. Line numbers are 1-based, as editors show them.
 */
export async function readNdjson(body: Readable, validator: BatchItemsValidator): Promise<void> {
  const lines = createInterface({ input: body, crlfDelay: Infinity });
  let number = 0;
  for await (const line of lines) {
    number += 1;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      validator.unparsable(`line[${number}]`, `not valid JSON: ${(error as Error).message}`);
      continue;
    }
    const nul = findNul(value);
    if (nul) {
      validator.unparsable(`line[${number}]`, `${nul} contains the NUL character, which cannot be stored`);
      continue;
    }
    validator.add(value, `line[${number}]`);
    if (validator.overLimit) {
      lines.close();
      body.destroy();
      break;
    }
  }
}
