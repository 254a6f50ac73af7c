import { BulwarkError } from '../../core/errors.js';
import { FILE_KINDS, isSafeFileName } from './backend.js';
import type { ByteRange, FileKind } from './backend.js';

/**
 * Where a file lives inside a repository, shared by every backend so a directory
 * copied into a bucket (or back) stays a valid repository: `config`, `keys/<name>`,
 * …, and `data/<first two hex digits>/<name>` — sharded like restic, because one
 * folder of a million packs is slow to list on most file systems.
 *
 * Throws BAD_REQUEST for anything the repository itself would never name, so no
 * caller can reach outside the repository (`../x`, `a/b`, an empty name).
 */
export function filePath(kind: FileKind, name: string): string {
  checkKind(kind);
  if (!isSafeFileName(name)) {
    throw new BulwarkError('BAD_REQUEST', `${JSON.stringify(name)} is not a valid name for a repository file in ${kind}/.`);
  }
  if (kind === 'config') {
    if (name !== 'config') throw new BulwarkError('BAD_REQUEST', `The repository's config file is named "config", not ${JSON.stringify(name)}.`);
    return 'config';
  }
  if (kind === 'data') {
    if (!/^[0-9a-f]{2}/.test(name)) {
      throw new BulwarkError('BAD_REQUEST', `Pack name ${JSON.stringify(name)} must start with two lowercase hex digits (it names the pack's shard folder).`);
    }
    return `data/${dataShard(name)}/${name}`;
  }
  return `${kind}/${name}`;
}

/** BAD_REQUEST for a kind that is not one of FILE_KINDS (callers from plain JavaScript, or a cast). */
export function checkKind(kind: FileKind): void {
  if (!(FILE_KINDS as readonly string[]).includes(kind)) {
    throw new BulwarkError('BAD_REQUEST', `"${String(kind)}" is not a kind of repository file (one of ${FILE_KINDS.join(', ')}).`);
  }
}

/** The shard folder of a pack: its first two hex digits. */
export function dataShard(name: string): string {
  return name.slice(0, 2);
}

/** The 256 shard folders of `data/`, `00` … `ff`. */
export function dataShards(): string[] {
  return Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
}

/** Rejects ranges that are not whole, non-negative byte counts before any I/O. */
export function checkRange(range: ByteRange): void {
  if (!Number.isSafeInteger(range.offset) || range.offset < 0 || !Number.isSafeInteger(range.length) || range.length < 0) {
    throw new BulwarkError('BAD_REQUEST', `A byte range needs a non-negative whole offset and length (got offset ${range.offset}, length ${range.length}).`);
  }
}

/** The error for a ranged read that reached past the end of its file. */
export function shortFileError(kind: FileKind, name: string, range: ByteRange, got: number): BulwarkError {
  return new BulwarkError(
    'REPOSITORY_DAMAGED',
    `${kind}/${name} is shorter than expected: ${range.length} bytes were wanted at offset ${range.offset} but only ${got} exist there (the file is truncated or damaged).`,
  );
}

/** The parts of a write as one list, whether one buffer or several were given. */
export function writeParts(data: Uint8Array | readonly Uint8Array[]): readonly Uint8Array[] {
  return data instanceof Uint8Array ? [data] : data;
}
