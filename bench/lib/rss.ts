import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceProcess } from './service.js';

/**
 * Resident memory of another process (Linux /proc), for showing what a request costs the
 * service child in memory. Figures are KiB, as /proc reports them.
 */

/** `VmRSS` (resident now) or `VmHWM` (peak resident since start or the last `resetPeak`). */
export function readKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]);
}

/**
 * Resets the kernel's peak-RSS mark (VmHWM) of `pid` to its current RSS (`5` to clear_refs,
 * Linux ≥ 4.0). False where that is not allowed: then only the samples tell the peak.
 */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The median of `count` RSS samples `intervalMs` apart: the resting RSS, less one sample's noise. */
export async function restingKiB(pid: number, count = 15, intervalMs = 20): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < count; i += 1) {
    samples.push(readKiB(pid, 'VmRSS'));
    await sleep(intervalMs);
  }
  return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)];
}

export interface RssWatch {
  /** Stops sampling; the largest sample, how many samples were taken, and VmHWM when it was reset at start. */
  stop(): { peakKiB: number; samples: number; hwmKiB: number | undefined };
}

/**
 * Samples VmRSS of `pid` every `intervalMs` until stopped, after resetting its VmHWM, so the
 * peak is known both from the samples and (where allowed) exactly from the kernel.
 */
export function watchRss(pid: number, intervalMs = 20): RssWatch {
  const reset = resetPeak(pid);
  let peakKiB = readKiB(pid, 'VmRSS');
  let samples = 1;
  const timer = setInterval(() => {
    try {
      peakKiB = Math.max(peakKiB, readKiB(pid, 'VmRSS'));
      samples += 1;
    } catch {
      // the process is gone: the caller finds out from its own request
    }
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      peakKiB = Math.max(peakKiB, readKiB(pid, 'VmRSS'));
      samples += 1;
      return { peakKiB, samples, hwmKiB: reset ? readKiB(pid, 'VmHWM') : undefined };
    },
  };
}

/** Node options for startService that let `collectGarbage` force a full GC in the child (gc-preload.ts). */
export const GC_NODE_ARGS = ['--expose-gc', `--import=${new URL('./gc-preload.js', import.meta.url).href}`];

/** The last `BENCH_GC` report in a service's output, if any. */
function lastGcReport(output: string): { seq: number; heapUsed: number } | undefined {
  const at = output.lastIndexOf('BENCH_GC ');
  const end = output.indexOf('\n', at);
  if (at === -1 || end === -1) return undefined;
  return JSON.parse(output.slice(at + 'BENCH_GC '.length, end)) as { seq: number; heapUsed: number };
}

/**
 * Forces a full garbage collection in a service started with GC_NODE_ARGS and returns its V8
 * heap in use right after (bytes).
 */
export async function collectGarbage(service: ServiceProcess, timeoutMs = 5000): Promise<number> {
  const previous = lastGcReport(service.output())?.seq ?? 0;
  process.kill(service.pid, 'SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const report = lastGcReport(service.output());
    if (report && report.seq > previous) return report.heapUsed;
    if (Date.now() > deadline) throw new Error(`no BENCH_GC report from ${service.pid}: started without GC_NODE_ARGS?`);
    await sleep(10);
  }
}
