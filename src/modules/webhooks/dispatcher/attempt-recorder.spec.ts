import { describe, expect, it } from 'vitest';
import { AttemptRecorder } from './attempt-recorder.js';
import type { AttemptRecord, DispatcherRepository } from './dispatcher.repository.js';

const record = (n: number): AttemptRecord => ({
  deliveryId: `d${n}`,
  webhookId: n % 2 ? 'odd' : 'even',
  attemptedAt: new Date(),
  statusCode: 200,
  durationMs: 1,
  error: null,
  responseBody: 'ok',
  outcome: 'ok',
  next: { status: 'succeeded' },
});

/** The batching only; the SQL itself is exercised end to end by test/webhooks*.e2e.spec.ts. */
describe('AttemptRecorder', () => {
  it('writes the first record at once and those arriving meanwhile together', async () => {
    const batches: string[][] = [];
    let release: () => void = () => undefined;
    const repo = {
      record: async (records: AttemptRecord[]) => {
        batches.push(records.map((r) => r.deliveryId));
        if (batches.length === 1) await new Promise<void>((r) => (release = r));
        return new Set(records.some((r) => r.deliveryId === 'd3') ? ['odd'] : []);
      },
    } as unknown as DispatcherRepository;
    const recorder = new AttemptRecorder(repo, 1000);
    const first = recorder.record(record(1));
    const rest = [2, 3, 4].map((n) => recorder.record(record(n)));
    release();
    expect(await first).toBe(false);
    expect(await Promise.all(rest)).toEqual([false, true, false]); // d3's batch disabled "odd"
    expect(batches).toEqual([['d1'], ['d2', 'd3', 'd4']]);
  });

  it('a failed write rejects every record of its batch, and the next ones still go out', async () => {
    let calls = 0;
    const repo = {
      record: async () => {
        calls += 1;
        if (calls === 1) throw new Error('database down');
        return new Set<string>();
      },
    } as unknown as DispatcherRepository;
    const recorder = new AttemptRecorder(repo, 1000);
    await expect(recorder.record(record(1))).rejects.toThrow('database down');
    await expect(recorder.record(record(2))).resolves.toBe(false);
  });
});
