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
];

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
          }
          method.apply(this, scrubbed);
        },
      },
      serializers: {
        err: (err: Error) => {
          const serialized = pino.stdSerializers.err(err);
          serialized.message = scrubSecrets(serialized.message ?? '');
          if (serialized.stack) serialized.stack = scrubSecrets(serialized.stack);
          return serialized;
        },
      },
    },
    destination,
  );
}
