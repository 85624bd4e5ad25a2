// pino with the places a secret could travel redacted, whatever a caller logs, and e-mail addresses masked in
// every string of every line (userNames and error messages often are addresses; logs must not collect them).
import pino, { type Logger } from 'pino';

const REDACT_PATHS = [
  'req.headers.authorization', 'headers.authorization', 'authorization', 'token', 'secret', 'credential',
  '*.token', '*.secret', '*.credential', '*.authorization', 'config.jwt', 'jwt.source',
];

const EMAIL = /[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}/g;

/** A copy of a log value with e-mail addresses masked (errors become plain objects with their message and stack). */
function maskEmails(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.includes('@') ? value.replace(EMAIL, '[email]') : value;
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (Array.isArray(value)) return value.map((v) => maskEmails(v, depth + 1));
  if (value instanceof Error) {
    const e = value as Error & { code?: unknown };
    return { type: e.name, message: maskEmails(e.message), stack: maskEmails(e.stack), ...(e.code !== undefined ? { code: e.code } : {}) };
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = maskEmails(v, depth + 1);
  return out;
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'scimbridge' },
    formatters: { log: (object) => maskEmails(object) as Record<string, unknown> },
    hooks: {
      logMethod(args, method) {
        return method.apply(this, args.map((a) => (typeof a === 'string' ? maskEmails(a) : a)) as Parameters<typeof method>);
      },
    },
  }, destination);
}
