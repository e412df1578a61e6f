import { parentPort, workerData } from 'node:worker_threads';
import { sendHttpRequest } from '../../src/common/net/http-client.js';
import { signatureHeader } from '../../src/modules/webhooks/signing.js';

/**
 * Worker-thread entry: the ceiling for webhook delivery. Sends `count` signed POSTs with the very
 * client the dispatcher uses (node:http, one connection per request, Standard Webhooks headers),
 * `concurrency` at a time, and nothing else: no database, no bookkeeping.
 */
export interface LoopInput {
  urls: string[];
  count: number;
  concurrency: number;
  secret: string;
}

export interface LoopOutput {
  elapsedMs: number;
  latenciesMs: number[];
  failures: number;
}

async function run(input: LoopInput): Promise<LoopOutput> {
  const latenciesMs: number[] = [];
  let failures = 0;
  let next = 0;
  const started = performance.now();
  const lane = async (): Promise<void> => {
    while (next < input.count) {
      const i = next++;
      const id = `evt_bare${String(i).padStart(28, '0')}`;
      const body = JSON.stringify({ id, type: 'webhook.test', createdAt: new Date().toISOString(), data: { i } });
      const timestamp = Math.floor(Date.now() / 1000);
      const t0 = performance.now();
      const response = await sendHttpRequest(new URL(input.urls[i % input.urls.length]), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signatureHeader([input.secret], id, timestamp, body),
        },
        body,
        maxResponseBytes: 2048,
      });
      latenciesMs.push(performance.now() - t0);
      if (response.status < 200 || response.status >= 300) failures += 1;
    }
  };
  await Promise.all(Array.from({ length: input.concurrency }, lane));
  return { elapsedMs: performance.now() - started, latenciesMs, failures };
}

run(workerData as LoopInput).then(
  (output) => parentPort?.postMessage(output),
  (error: unknown) => {
    throw error;
  },
);
