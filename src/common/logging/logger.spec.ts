import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, scrubSecrets } from './logger.js';

function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, stream };
}

describe('logger redaction', () => {
  const key = 'cvk_N42zBMlSzrEr3BdbRRpH-8-4KVNIaecl5f3j_fdG98I';
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

  it('redacts secret fields by path', () => {
    const { lines, stream } = capture();
    const log = createLogger('info', stream);
    log.info({ req: { headers: { authorization: `Bearer ${key}` } }, apiKey: key, webhook: { secret } }, 'hello');
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain(key);
    expect(lines[0]).not.toContain(secret);
    expect(JSON.parse(lines[0]).apiKey).toBe('[REDACTED]');
  });

  it('scrubs keys, secrets and bearer tokens from free text and errors', () => {
    const { lines, stream } = capture();
    const log = createLogger('info', stream);
    log.warn(`user pasted ${key} and ${secret}`);
    log.error({ err: new Error(`failed with Authorization: Bearer abc.def.ghi and ${key}`) }, 'boom');
    const all = lines.join('\n');
    expect(all).not.toContain(key);
    expect(all).not.toContain(secret);
    expect(all).not.toContain('abc.def.ghi');
    expect(all).toContain('cvk_[REDACTED]');
  });

  it('leaves ordinary text alone', () => {
    expect(scrubSecrets('job 42 completed in 10 ms')).toBe('job 42 completed in 10 ms');
  });
});
