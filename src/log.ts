// pino with the places a secret could travel redacted, whatever a caller logs.
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'req.headers.authorization', 'headers.authorization', 'authorization', 'token', 'secret', 'credential',
  '*.token', '*.secret', '*.credential', '*.authorization', 'config.jwt', 'jwt.source',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'scimbridge' } }, destination);
}
