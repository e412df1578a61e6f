import { Logger } from '@nestjs/common';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { PinoNestLogger } from './nest-logger.js';

function capture(): { lines: Array<Record<string, unknown>>; logger: PinoNestLogger } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: new PinoNestLogger(createLogger('trace', stream)) };
}

describe('PinoNestLogger under Nest’s Logger', () => {
  afterEach(() => Logger.overrideLogger(false));

  it('keeps the fields, the message and the context of logger.warn({fields}, "text")', () => {
    const { lines, logger } = capture();
    Logger.overrideLogger(logger);
    new Logger('JobWorker').warn({ jobs: 3 }, 're-queued jobs');
    expect(lines[0]).toMatchObject({ level: 'warn', context: 'JobWorker', jobs: 3, msg: 're-queued jobs' });
  });

  it('logs an error object passed as {err} with its message', () => {
    const { lines, logger } = capture();
    Logger.overrideLogger(logger);
    new Logger('Dispatcher').error({ err: new Error('connection refused') }, 'claim failed');
    expect(lines[0]).toMatchObject({ level: 'error', context: 'Dispatcher', msg: 'claim failed' });
    expect(JSON.stringify(lines[0].err)).toContain('connection refused');
  });

  it('understands Nest’s own error(message, stack, context) and log(message, context)', () => {
    const { lines, logger } = capture();
    logger.error('boom', 'Error: boom\n    at x (y.js:1:1)', 'ExceptionHandler');
    logger.log('Mapped {/api, GET} route', 'RouterExplorer');
    expect(lines[0]).toMatchObject({
      context: 'ExceptionHandler',
      msg: 'boom',
      stack: expect.stringContaining('at x'),
    });
    expect(lines[1]).toMatchObject({ context: 'RouterExplorer', msg: 'Mapped {/api, GET} route' });
  });
});
