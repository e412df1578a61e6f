import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, loggableUrl, scrubSecrets } from './logger.js';

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

  it('censors what an error carries of a request: statement parameters and text, DETAIL, CONTEXT', () => {
    const { lines, stream } = capture();
    const log = createLogger('info', stream);
    const pgError = Object.assign(new Error('new row for relation "jobs" violates check constraint "c"'), {
      code: '23514',
      detail: 'Failing row contains (operator-admin-key-without-prefix)',
      where: 'JSON data, line 1: {"secret":"plain',
    });
    const typeormError = Object.assign(new Error('query failed'), {
      query: 'INSERT INTO jobs VALUES ($1)',
      parameters: ['plain-secret-parameter'],
      driverError: pgError,
    });
    log.error({ err: typeormError }, 'boom');
    log.info({ values: ['plain-secret-value'], nested: { parameters: ['plain-secret-nested'] } }, 'fields');
    const all = lines.join('\n');
    for (const leaked of [
      'operator-admin-key',
      '"secret":"plain',
      'plain-secret-parameter',
      'plain-secret-value',
      'plain-secret-nested',
    ]) {
      expect(all).not.toContain(leaked);
    }
    const err = JSON.parse(lines[0]).err;
    expect(err).toMatchObject({ query: '[REDACTED]', parameters: '[REDACTED]' });
    expect(err.driverError).toMatchObject({ code: '23514', detail: '[REDACTED]', where: '[REDACTED]' });
  });

  it('scrubs keys from the string fields of a log call', () => {
    const { lines, stream } = capture();
    createLogger('info', stream).info({ note: `pasted ${key}` }, 'hello');
    expect(lines[0]).not.toContain(key);
  });

  it('logs a URL as its path and the names of its query parameters', () => {
    expect(loggableUrl('/api/v1/jobs?api_key=abc&limit=5&flag')).toBe(
      '/api/v1/jobs?api_key=[REDACTED]&limit=[REDACTED]&flag=[REDACTED]',
    );
    expect(loggableUrl(`/api/v1/jobs/${key}`)).toBe('/api/v1/jobs/cvk_[REDACTED]');
    expect(loggableUrl('/api/v1/jobs')).toBe('/api/v1/jobs');
  });

  it('leaves ordinary text alone', () => {
    expect(scrubSecrets('job 42 completed in 10 ms')).toBe('job 42 completed in 10 ms');
  });
});
