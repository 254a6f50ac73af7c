import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * Paths that can carry a secret anywhere in a log record. pino replaces them
 * before serialisation, so a careless `log.info({ body })` still leaks nothing.
 */
export const REDACTED_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'headers.authorization',
  'password',
  '*.password',
  'key',
  '*.key',
  'keyPem',
  '*.keyPem',
  'secret',
  '*.secret',
];

export function createLogger(options: { level?: LevelWithSilent; name?: string } = {}): Logger {
  return pino({
    name: options.name ?? 'bulwark',
    level: options.level ?? (process.env.BULWARK_LOG_LEVEL as LevelWithSilent | undefined) ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  });
}

export const silentLogger: Logger = pino({ level: 'silent' });
