/**
 * The in-memory map from blob id to where the blob is stored, sized for millions of blobs.
 *
 * Layout (no JS object and no string per entry):
 *   - entries are numbered in the order they were added and stored in pages of 16,384:
 *     32 bytes of id, 1 byte of type and 4 uint32s (pack, offset, length, rawLength) —
 *     49 bytes an entry. Pages are never moved once full, so growth copies nothing but the
 *     first page while it fills (it starts at 256 entries, which keeps small indexes small);
 *   - a hash table of uint32 slots (entry number + 1, 0 = empty), open addressing with
 *     linear probing, doubled when it would pass 3/4 full: 5.3–10.7 bytes an entry.
 * So about 55–60 bytes per entry: 1 million blobs take about 57 MB, 10 million about 570 MB.
 *
 * The slot is the id's first 4 bytes (little-endian) masked to the table size. Blob ids
 * are keyed hashes, uniformly random to anyone without the repository's key, so no other
 * hashing is needed; ids chosen to collide (only possible with the key) would make lookups
 * slow, never wrong.
 */
import { BulwarkError } from '../core/errors.js';
import { ID_BYTES } from './ids.js';

/** Where a blob is, as the index stores it. `pack` numbers a pack-id table the caller keeps. */
export interface BlobIndexEntry {
  /** 0 data, 1 tree. */
  type: 0 | 1;
  pack: number;
  /** Byte offset of the sealed blob in its pack. */
  offset: number;
  /** Sealed (stored) bytes. */
  length: number;
  /** Plaintext bytes. */
  rawLength: number;
}

export interface BlobIndexItem extends BlobIndexEntry {
  /** May be a view into the index's storage: read it, never write it; copy it to keep it long. */
  id: Uint8Array;
}

const PAGE_BITS = 14;
const PAGE_SIZE = 1 << PAGE_BITS;
const PAGE_MASK = PAGE_SIZE - 1;
const FIRST_PAGE_SIZE = 256;
const INITIAL_SLOTS = 1024;
/** uint32 columns per entry: pack, offset, length, rawLength. */
const COLUMNS = 4;

function isUint32(value: number): boolean {
  return value >>> 0 === value;
}

function checkId(id: Uint8Array): void {
  if (id.length !== ID_BYTES) {
    throw new BulwarkError('BAD_REQUEST', `A blob id is ${ID_BYTES} bytes, not ${id.length}.`);
  }
}

export class BlobIndex {
  #ids: Uint8Array[] = [];
  #types: Uint8Array[] = [];
  #columns: Uint32Array[] = [];
  #slots = new Uint32Array(INITIAL_SLOTS);
  #count = 0;

  /** Number of distinct ids. */
  get size(): number {
    return this.#count;
  }

  /** Bytes of typed-array storage held (what the index costs in memory, give or take a few hundred bytes). */
  get byteSize(): number {
    let bytes = this.#slots.byteLength;
    for (let p = 0; p < this.#ids.length; p++) {
      bytes += this.#ids[p]!.byteLength + this.#types[p]!.byteLength + this.#columns[p]!.byteLength;
    }
    return bytes;
  }

  /**
   * Adds a blob; returns false and changes nothing when the id is already there (the first
   * location wins: a repository may legally hold a blob twice). The id is copied.
   */
  add(id: Uint8Array, entry: BlobIndexEntry): boolean {
    checkId(id);
    const { type, pack, offset, length, rawLength } = entry;
    if ((type !== 0 && type !== 1) || !isUint32(pack) || !isUint32(offset) || !isUint32(length) || !isUint32(rawLength)) {
      throw new BulwarkError(
        'BAD_REQUEST',
        `A blob index entry needs type 0 or 1 and pack, offset, length, rawLength as uint32; got ${type}/${pack}/${offset}/${length}/${rawLength}.`,
      );
    }
    let slot = this.#find(id);
    if (slot >= 0) return false;
    if ((this.#count + 1) * 4 > this.#slots.length * 3) {
      this.#rehash(this.#slots.length * 2);
      slot = this.#find(id);
    }

    const n = this.#count;
    const page = n >>> PAGE_BITS;
    const at = n & PAGE_MASK;
    if (at >= (this.#types[page]?.length ?? 0)) this.#growPage(page);
    this.#ids[page]!.set(id, at * ID_BYTES);
    this.#types[page]![at] = type;
    const columns = this.#columns[page]!;
    columns[at * COLUMNS] = pack;
    columns[at * COLUMNS + 1] = offset;
    columns[at * COLUMNS + 2] = length;
    columns[at * COLUMNS + 3] = rawLength;
    this.#slots[~slot] = n + 1;
    this.#count = n + 1;
    return true;
  }

  /** Where the blob is, as a fresh object, or undefined. */
  get(id: Uint8Array): BlobIndexEntry | undefined {
    checkId(id);
    const slot = this.#find(id);
    if (slot < 0) return undefined;
    const n = this.#slots[slot]! - 1;
    return this.#entry(n >>> PAGE_BITS, n & PAGE_MASK);
  }

  has(id: Uint8Array): boolean {
    checkId(id);
    return this.#find(id) >= 0;
  }

  /**
   * Every entry present when iteration starts, once each, in the order added. Each `id`
   * is a view into the index's storage (see BlobIndexItem).
   */
  *entries(): Generator<BlobIndexItem> {
    const count = this.#count;
    for (let n = 0; n < count; n++) {
      const page = n >>> PAGE_BITS;
      const at = n & PAGE_MASK;
      const item = this.#entry(page, at) as BlobIndexItem;
      item.id = this.#ids[page]!.subarray(at * ID_BYTES, (at + 1) * ID_BYTES);
      yield item;
    }
  }

  #entry(page: number, at: number): BlobIndexEntry {
    const columns = this.#columns[page]!;
    const base = at * COLUMNS;
    return {
      type: this.#types[page]![at] as 0 | 1,
      pack: columns[base]!,
      offset: columns[base + 1]!,
      length: columns[base + 2]!,
      rawLength: columns[base + 3]!,
    };
  }

  /** The slot holding `id`, or ~slot of the empty slot where it would go. */
  #find(id: Uint8Array): number {
    const slots = this.#slots;
    const mask = slots.length - 1;
    let slot = (id[0]! | (id[1]! << 8) | (id[2]! << 16) | (id[3]! << 24)) & mask;
    for (;;) {
      const stored = slots[slot]!;
      if (stored === 0) return ~slot;
      const n = stored - 1;
      const ids = this.#ids[n >>> PAGE_BITS]!;
      const base = (n & PAGE_MASK) * ID_BYTES;
      let i = 0;
      while (i < ID_BYTES && ids[base + i] === id[i]) i++;
      if (i === ID_BYTES) return slot;
      slot = (slot + 1) & mask;
    }
  }

  #rehash(capacity: number): void {
    const slots = new Uint32Array(capacity);
    const mask = capacity - 1;
    for (let n = 0; n < this.#count; n++) {
      const ids = this.#ids[n >>> PAGE_BITS]!;
      const base = (n & PAGE_MASK) * ID_BYTES;
      let slot = (ids[base]! | (ids[base + 1]! << 8) | (ids[base + 2]! << 16) | (ids[base + 3]! << 24)) & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = n + 1;
    }
    this.#slots = slots;
  }

  #growPage(page: number): void {
    const old = this.#types[page]?.length ?? 0;
    const capacity = page > 0 ? PAGE_SIZE : Math.min(PAGE_SIZE, Math.max(FIRST_PAGE_SIZE, old * 2));
    const ids = new Uint8Array(capacity * ID_BYTES);
    const types = new Uint8Array(capacity);
    const columns = new Uint32Array(capacity * COLUMNS);
    if (old > 0) {
      ids.set(this.#ids[page]!);
      types.set(this.#types[page]!);
      columns.set(this.#columns[page]!);
    }
    this.#ids[page] = ids;
    this.#types[page] = types;
    this.#columns[page] = columns;
  }
}
