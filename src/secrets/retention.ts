import { BulwarkError } from '../core/errors.js';
import { SECRET_LIMITS } from '../protocol/secrets.js';

/** Versions a secret keeps unless told otherwise. */
export const DEFAULT_MAX_VERSIONS = SECRET_LIMITS.defaultMaxVersions;
export const MIN_MAX_VERSIONS = SECRET_LIMITS.minMaxVersions;
export const MAX_MAX_VERSIONS = SECRET_LIMITS.maxMaxVersions;

/** `n` when it is a whole number from 1 to 100; BAD_REQUEST otherwise. */
export function checkMaxVersions(n: number): number {
  if (!Number.isInteger(n) || n < MIN_MAX_VERSIONS || n > MAX_MAX_VERSIONS) {
    throw new BulwarkError('BAD_REQUEST', `max versions must be a whole number from ${MIN_MAX_VERSIONS} to ${MAX_MAX_VERSIONS}, not ${String(n)}`);
  }
  return n;
}

/**
 * The versions to destroy and remove so that only the newest `maxVersions`
 * remain, oldest first. Deleted and destroyed versions count like live ones:
 * retention is about history length, and the newest version (the current one)
 * is always kept.
 *
 * @example versionsBeyondRetention([1, 2, 3, 4], 2) // → [1, 2]
 */
export function versionsBeyondRetention(versions: readonly number[], maxVersions: number): number[] {
  const keep = checkMaxVersions(maxVersions);
  const newestFirst = [...new Set(versions)].sort((a, b) => b - a);
  return newestFirst.slice(keep).reverse();
}

/** The state of one stored version, from its timestamps. */
export type SecretVersionState = 'live' | 'deleted' | 'destroyed';

export function versionState(v: { deletedAt: number | null; destroyedAt: number | null }): SecretVersionState {
  if (v.destroyedAt !== null) return 'destroyed';
  if (v.deletedAt !== null) return 'deleted';
  return 'live';
}
