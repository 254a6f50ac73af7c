import { BulwarkError } from '../core/errors.js';

/** Reads a JSON column; a corrupt one is a server fault, never the caller's. */
export function parseJson<T>(text: string, column: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new BulwarkError('INTERNAL', `the database holds invalid JSON in ${column}`);
  }
}
