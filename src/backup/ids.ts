/**
 * Repository object ids (blobs, packs, snapshots, index files) are 32 bytes, written as
 * 64 lower-case hex digits in file names, trees and on the command line.
 */
import { BulwarkError } from '../core/errors.js';

export const ID_BYTES = 32;

const ID_HEX = /^[0-9a-f]{64}$/;

/** Lower-case hex of an id (or of any bytes). */
export function idHex(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
}

/**
 * Parses 64 lower-case hex digits into a fresh 32-byte array; BAD_REQUEST otherwise.
 * `what` names the id in the message ("snapshot id", "pack name").
 *
 * @example
 * const id = idFromHex(argv.snapshot, 'snapshot id');
 */
export function idFromHex(hex: string, what = 'id'): Uint8Array {
  if (!ID_HEX.test(hex)) {
    const shown = hex.length > 80 ? `${hex.slice(0, 80)}…` : hex;
    throw new BulwarkError('BAD_REQUEST', `The ${what} "${shown}" is not valid: give 64 lower-case hex digits.`);
  }
  // A copy of its own, so a kept id does not pin Buffer's shared 8 KiB pool.
  return new Uint8Array(Buffer.from(hex, 'hex'));
}
