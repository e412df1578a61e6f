import type { LoggerService } from '@nestjs/common';
import type { Logger } from 'pino';

type Level = 'info' | 'error' | 'warn' | 'debug' | 'trace' | 'fatal';

/**
 * Nest's LoggerService over pino. A `new Logger('Ctx')` call reaches here as
 * `(message, ...yourParams, 'Ctx')`, so the context is the last parameter. Our code logs
 * `logger.warn({ fields }, 'text')`: the object's fields go into the JSON line, `text` becomes
 * its `msg`. Nest's own `error(message, stack, context)` is recognised by the stack's newlines.
 */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly pino: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(level: Level, message: unknown, params: unknown[]): void {
    const last = params.at(-1);
    const context = typeof last === 'string' ? last : undefined;
    const rest = context === undefined ? params : params.slice(0, -1);
    const strings = rest.filter((p): p is string => typeof p === 'string');
    const text = strings.find((s) => !s.includes('\n'));
    const stack = strings.find((s) => s.includes('\n'));
    if (message instanceof Error) {
      this.pino[level]({ context, err: message }, text ?? message.message);
    } else if (typeof message === 'object' && message !== null) {
      this.pino[level]({ context, ...(stack ? { stack } : {}), ...message }, text);
    } else {
      this.pino[level]({ context, ...(stack ? { stack } : {}) }, String(message));
    }
  }
}
