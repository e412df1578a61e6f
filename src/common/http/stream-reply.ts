import type { FastifyReply } from 'fastify';
import type { Readable } from 'node:stream';

/**
 * Sends `stream` as the reply body and watches the client: one that has stopped reading — the
 * response keeps a full buffer (`writableNeedDrain`) for `stallMs` — is cut off (its socket
 * destroyed), which destroys the stream and so releases whatever feeds it (a database cursor).
 * A slow producer is not a stall: only a writer waiting on the client counts. `onClose` runs once
 * when the response is over, however it ended.
 */
export async function sendStream(
  reply: FastifyReply,
  stream: Readable,
  stallMs: number,
  onClose: (outcome: 'finished' | 'stalled' | 'aborted') => void,
): Promise<void> {
  const response = reply.raw;
  let waitingSince: number | undefined;
  let outcome: 'finished' | 'stalled' | 'aborted' = 'aborted';
  const watchdog = setInterval(
    () => {
      if (!response.writableNeedDrain) {
        waitingSince = undefined;
        return;
      }
      waitingSince ??= Date.now();
      if (Date.now() - waitingSince >= stallMs) {
        outcome = 'stalled';
        response.destroy();
      }
    },
    Math.max(50, Math.min(1000, Math.floor(stallMs / 4))),
  );
  watchdog.unref();
  response.once('finish', () => (outcome = 'finished'));
  response.once('close', () => {
    clearInterval(watchdog);
    if (!stream.destroyed) stream.destroy();
    onClose(outcome);
  });
  await reply.send(stream);
}
