import { BulwarkError } from '../core/errors.js';

/**
 * X.509 validity has whole seconds; rounding here (down) lets callers store exactly
 * the instants the certificate carries.
 */
export function toCertificateTime(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0) throw new BulwarkError('BAD_REQUEST', `certificate time ${ms} is not a valid instant`);
  return Math.floor(ms / 1000) * 1000;
}
