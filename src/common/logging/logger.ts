import { pino, type Logger } from 'pino';

/** Structured paths that never reach the log output. */
export const REDACT_PATHS = [
  'authorization',
  'apiKey',
  'key',
  'secret',
  'password',
  '*.authorization',
  '*.apiKey',
  '*.key',
  '*.secret',
  '*.password',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers["webhook-signature"]',
  // Statement parameters carry whole request payloads; nothing logs them on purpose, these paths
  // make sure nothing does by accident (a TypeORM QueryFailedError carries `parameters`).
  'parameters',
  'values',
  '*.parameters',
  '*.values',
];

/**
 * Fields of an error that can hold the data of a request rather than a description of the fault:
 * statement parameters and text, and PostgreSQL's DETAIL ("Failing row contains (…)", "Key (email)=(…)
 * already exists") and CONTEXT ("JSON data, line 1: …"). Censored at every depth of a logged error.
 */
const ERROR_PAYLOAD_FIELDS = ['parameters', 'values', 'query', 'detail', 'where'];

// Free text is scrubbed too: an API key or webhook secret pasted into an error message must not
// survive. Bearer tokens are cut whatever their shape.
const SECRET_PATTERNS: Array<[RegExp, string]> = [
  [/\bcvk_[A-Za-z0-9_-]{16,}/g, 'cvk_[REDACTED]'],
  [/\bwhsec_[A-Za-z0-9+/=]{16,}/g, 'whsec_[REDACTED]'],
  [/\b(Bearer)\s+[^\s"',]+/gi, '$1 [REDACTED]'],
];

export function scrubSecrets(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/**
 * A request URL as it may be logged: the path, and the names of the query parameters with their
 * values censored. A query string can carry anything, keys included (`?api_key=…`), and an
 * ADMIN_API_KEY has no pattern the scrubber could recognise.
 */
export function loggableUrl(url: string): string {
  const at = url.indexOf('?');
  if (at < 0) return scrubSecrets(url);
  const names = url
    .slice(at + 1)
    .split('&')
    .filter(Boolean)
    .map((pair) => `${pair.split('=', 1)[0]}=[REDACTED]`);
  return scrubSecrets(`${url.slice(0, at)}?${names.join('&')}`);
}

/** A serialized error with its payload fields censored, its causes and nested errors too. */
function censorPayloads(serialized: Record<string, unknown>, depth = 0): Record<string, unknown> {
  for (const field of ERROR_PAYLOAD_FIELDS) {
    if (serialized[field] !== undefined) serialized[field] = '[REDACTED]';
  }
  if (depth >= 5) return serialized;
  for (const [key, value] of Object.entries(serialized)) {
    if (Array.isArray(value) && key === 'aggregateErrors') {
      for (const inner of value) if (inner && typeof inner === 'object') censorPayloads(inner, depth + 1);
    } else if (value && typeof value === 'object' && 'message' in value) {
      censorPayloads(value as Record<string, unknown>, depth + 1);
    }
  }
  return serialized;
}

/** Top-level string fields of a log call scrubbed like its message (a copy; the caller's object is untouched). */
function scrubFields(fields: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value !== 'string') continue;
    const scrubbed = scrubSecrets(value);
    if (scrubbed !== value) (copy ??= { ...fields })[key] = scrubbed;
  }
  return copy ?? fields;
}

/** The process-wide pino logger: JSON lines on stdout, secrets redacted by path and by pattern. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'conveyor' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      formatters: { level: (label) => ({ level: label }) },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((a) => (typeof a === 'string' ? scrubSecrets(a) : a)) as typeof args;
          const first = scrubbed[0] as unknown;
          if (first instanceof Error) {
            scrubbed[0] = { err: first } as never;
          } else if (first && typeof first === 'object') {
            scrubbed[0] = scrubFields(first as Record<string, unknown>) as never;
          }
          method.apply(this, scrubbed);
        },
      },
      serializers: {
        err: (err: Error) => {
          const serialized = pino.stdSerializers.err(err);
          serialized.message = scrubSecrets(serialized.message ?? '');
          if (serialized.stack) serialized.stack = scrubSecrets(serialized.stack);
          return censorPayloads(serialized) as typeof serialized;
        },
      },
    },
    destination,
  );
}

/**
 * The one line per request, written without createLogger's redaction (its paths, patterns and
 * field scrub ran on every call: 10 % of a cached read's CPU in a profile). Safe because every
 * field is built from a value that cannot carry a secret: the method (an HTTP token), the URL
 * through {@link loggableUrl} (query values censored, key patterns scrubbed), the status, the
 * duration, the user id and the request id (a UUID, or the client's if short and plain). Same
 * destination and level as `logger`, so lines never interleave and tests capture them alike.
 */
export function createAccessLogger(logger: Logger): Logger {
  return pino(
    {
      level: logger.level,
      base: { service: 'conveyor' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    (logger as unknown as Record<symbol, pino.DestinationStream>)[pino.symbols.streamSym],
  );
}

/**
 * Ends `logger`'s stream; resolves once every line logged so far is written (or after
 * `timeoutMs`, if stdout is stuck). For the last step before process.exit(): pino writes stdout
 * asynchronously, and the exit's synchronous flush skips a write in flight, whose lines then came
 * out after later ones (or could be lost). Nothing may log through `logger` afterwards.
 */
export function endLogs(logger: Logger, timeoutMs = 1000): Promise<void> {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as
    (NodeJS.EventEmitter & { end?: () => void; destroyed?: boolean }) | undefined;
  if (typeof stream?.end !== 'function' || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    stream.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    stream.end!();
  });
}
