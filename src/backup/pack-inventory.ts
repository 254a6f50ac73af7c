import { BulwarkError } from '../core/errors.js';
import type { Backend } from './backend/backend.js';
import { mapLimit } from './concurrency.js';
import { SEAL_OVERHEAD } from './crypto.js';
import { decodeIndex, type IndexBlob } from './index-file.js';
import type { Repository } from './repository.js';

/**
 * What the index files say about the packs, read file by file so that one
 * damaged index file neither hides the others (check) nor goes unnoticed (prune).
 */
export interface IndexedPack {
  id: Buffer;
  /** Hex id: the pack's file name in `data/`. */
  name: string;
  blobs: IndexBlob[];
  /** Index files naming the pack (more than one after an interrupted prune, which is legal). */
  indexFiles: string[];
}

export interface IndexInventory {
  /** Every index file listed, readable or not. */
  files: string[];
  packs: Map<string, IndexedPack>;
  failures: { name: string; error: BulwarkError }[];
}

/** Index files read at once: each is a few MiB at most. */
const INDEX_READS = 8;

/**
 * Reads every index file on its own and adds the readable ones to the
 * repository's in-memory index (so trees and blobs can be read afterwards).
 */
export async function readIndexInventory(repo: Repository): Promise<IndexInventory> {
  const files: string[] = [];
  for await (const file of repo.backend.list('index')) files.push(file.name);
  files.sort();
  const failures: IndexInventory['failures'] = [];
  const packs = new Map<string, IndexedPack>();
  const decoded = await mapLimit(files, INDEX_READS, async (name) => {
    try {
      return decodeIndex(repo.keys.encryption, await repo.backend.read('index', name), name);
    } catch (err) {
      if (!(err instanceof BulwarkError)) throw err;
      failures.push({ name, error: err });
      return undefined;
    }
  });
  for (const [i, list] of decoded.entries()) {
    if (!list) continue;
    const file = files[i] as string;
    repo.addIndexPacks(list);
    for (const pack of list) {
      const name = pack.id.toString('hex');
      const known = packs.get(name);
      if (!known) {
        packs.set(name, { id: pack.id, name, blobs: pack.blobs, indexFiles: [file] });
        continue;
      }
      known.indexFiles.push(file);
      // Listings of one pack are copies of the same header; the fuller one wins if they differ.
      if (pack.blobs.length > known.blobs.length) known.blobs = pack.blobs;
    }
  }
  failures.sort((a, b) => (a.name < b.name ? -1 : 1));
  return { files, packs, failures };
}

/** Every file in `data/` with its size. */
export async function listPackSizes(backend: Backend, modified?: Map<string, number | undefined>): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for await (const file of backend.list('data')) {
    sizes.set(file.name, file.size);
    modified?.set(file.name, file.modified);
  }
  return sizes;
}

/**
 * The bytes a pack holding exactly these blobs takes (pack.ts): the blobs, the
 * sealed header of 4 magic bytes and 41 bytes per blob, and its u32 length.
 */
export function packFileBytes(blobs: readonly IndexBlob[]): number {
  let end = 0;
  for (const b of blobs) end = Math.max(end, b.offset + b.length);
  return end + SEAL_OVERHEAD + 4 + 41 * blobs.length + 4;
}
