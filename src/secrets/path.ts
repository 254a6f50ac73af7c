import { BulwarkError } from '../core/errors.js';
import { SECRET_LIMITS } from '../protocol/secrets.js';

/** Longest secret path, in characters (paths are ASCII, so also bytes). */
export const MAX_SECRET_PATH_LENGTH = SECRET_LIMITS.maxPathLength;

const SEGMENT = /^[A-Za-z0-9._-]+$/;

/**
 * Why `path` is not a valid secret path, or undefined when it is one. A path is
 * segments of letters, digits, `.`, `_` and `-` joined by single slashes, at most
 * 256 characters, with no `.` or `..` segment: nothing that a file system, a URL
 * or a glob could read as something else.
 *
 * @example secretPathProblem('app//db') // → 'has an empty segment ("//")'
 */
export function secretPathProblem(path: string): string | undefined {
  if (path === '') return 'is empty';
  if (path.length > MAX_SECRET_PATH_LENGTH) return `is ${path.length} characters long; at most ${MAX_SECRET_PATH_LENGTH} are allowed`;
  if (path.startsWith('/')) return 'starts with "/"; write it without the leading slash, e.g. app/db-password';
  if (path.endsWith('/')) return 'ends with "/"';
  const segments = path.split('/');
  if (segments.some((s) => s === '')) return 'has an empty segment ("//")';
  if (segments.some((s) => s === '.' || s === '..')) return 'has a "." or ".." segment';
  if (segments.some((s) => !SEGMENT.test(s))) return 'may only hold letters, digits, ".", "_" and "-" between slashes';
  return undefined;
}

/** `path` itself when valid; BAD_REQUEST naming what is wrong otherwise. */
export function checkSecretPath(path: string): string {
  const problem = secretPathProblem(path);
  // The path is echoed only in printable, bounded form: a path is not a secret, but junk can be long or binary.
  if (problem !== undefined) throw new BulwarkError('BAD_REQUEST', `secret path ${quotePath(path)} ${problem}`);
  return path;
}

/** A path for messages: quoted, with control characters escaped and the length bounded. */
export function quotePath(path: string): string {
  return JSON.stringify(path.length > 80 ? `${path.slice(0, 80)}…` : path);
}
