/**
 * Preloaded into a service child by `node --expose-gc --import=…/gc-preload.js` (see GC_NODE_ARGS):
 * on SIGUSR2 the child runs a full garbage collection and prints its heap in use afterwards, so
 * a bench can tell memory still held from garbage V8 has not collected yet. Nothing else changes.
 */
const gc = (globalThis as { gc?: () => void }).gc;
let seq = 0;
if (gc) {
  process.on('SIGUSR2', () => {
    gc();
    seq += 1;
    process.stderr.write(`\nBENCH_GC ${JSON.stringify({ seq, heapUsed: process.memoryUsage().heapUsed })}\n`);
  });
}
