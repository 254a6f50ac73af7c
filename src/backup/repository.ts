import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { BulwarkError } from '../core/errors.js';
import { openWriter, type Backend, type FileWriter } from './backend/backend.js';
import { BlobIndex } from './blob-index.js';
import { openBlob, sealBlob } from './blob-codec.js';
import { mapLimit, Semaphore } from './concurrency.js';
import {
  BLOB_DATA,
  BLOB_TREE,
  blobId,
  decodeRepositoryKeys,
  encodeRepositoryKeys,
  fileAad,
  newRepositoryKeys,
  open,
  seal,
  wipeRepositoryKeys,
  type BlobType,
  type RepositoryKeys,
} from './crypto.js';
import { decodeIndex, encodeIndex, MAX_BLOBS_PER_INDEX_FILE, type IndexPack } from './index-file.js';
import { parseKeyFile, unwrapRepositoryKeys, wrapRepositoryKeys, type Credential, type KeyFileJson, type ScryptCost } from './key-file.js';
import { safeUser } from './lock.js';
import { encodePackHeader, type PackEntry } from './pack.js';
import { parseSnapshot, type Snapshot, type SnapshotRef } from './snapshot.js';
import { decodeTree, encodeTree, type Tree } from './tree.js';

/** The repository format version this code writes and reads (docs/repository-format.md). */
export const REPOSITORY_VERSION = 1;
/** Packs are closed once their blobs reach this size (restic's default too). */
export const PACK_TARGET_BYTES = 16 * 1024 * 1024;
/** Packs being committed at once (fsynced and published; for S3, uploaded from memory, so this also bounds memory there). */
const UPLOADS_IN_FLIGHT = 2;
/** A pack's blobs go to its file in pieces of about this size: few writes, little held in memory. */
const APPEND_BYTES = 1024 * 1024;
/** Key files a repository may hold. */
const MAX_KEYS = 64;

export interface RepositoryConfig {
  v: 1;
  version: number;
  id: string;
  created: string;
}

export interface RepositoryOptions {
  /** scrypt cost for new password keys (tests lower it; bounded below). */
  scryptCost?: ScryptCost;
}

export interface KeyListing {
  id: string;
  created: string;
  host: string;
  user: string;
  kind: 'password' | 'key-file';
  current: boolean;
}

/** Where a blob lives. */
export interface BlobLocation {
  type: BlobType;
  pack: string;
  offset: number;
  length: number;
  rawLength: number;
}

/**
 * An open repository: its keys, its index in memory, and the writer of new
 * packs. One process may hold one Repository per repository; several processes
 * may add to the same repository at once (every name they write is random or
 * content-derived, so they never write the same file).
 */
export class Repository {
  readonly index = new BlobIndex();
  /** Pack ids by the number the index stores. */
  readonly #packIds: Buffer[] = [];
  readonly #packNumbers = new Map<string, number>();
  readonly #indexFiles = new Set<string>();
  #writer: PackWriter | undefined;

  private constructor(
    readonly backend: Backend,
    readonly keys: RepositoryKeys,
    readonly config: RepositoryConfig,
    readonly keyName: string,
    private readonly options: RepositoryOptions,
  ) {}

  static async init(backend: Backend, credential: Credential, options: RepositoryOptions = {}): Promise<Repository> {
    await backend.create();
    const keys = newRepositoryKeys();
    const config: RepositoryConfig = { v: 1, version: REPOSITORY_VERSION, id: randomBytes(32).toString('hex'), created: new Date().toISOString() };
    const keyFile = await wrapRepositoryKeys(encodeRepositoryKeys(keys), credential, { host: hostname(), user: safeUser(), now: new Date() }, options.scryptCost);
    const keyName = randomBytes(32).toString('hex');
    // The key before the config: a repository whose config exists always has a key to open it.
    await backend.write('keys', keyName, Buffer.from(JSON.stringify(keyFile)), { exclusive: true });
    try {
      await backend.write('config', 'config', seal(keys.encryption, Buffer.from(JSON.stringify(config)), fileAad('config')), { exclusive: true });
    } catch (err) {
      // Another process created the repository at the same moment and its config won: this key opens nothing.
      await backend.remove('keys', keyName).catch(() => undefined);
      throw err;
    }
    return new Repository(backend, keys, config, keyName, options);
  }

  static async open(backend: Backend, credential: Credential, options: RepositoryOptions = {}): Promise<Repository> {
    const sealedConfig = await backend.read('config', 'config').catch((err: unknown) => {
      if ((err as BulwarkError).code === 'NOT_FOUND') throw new BulwarkError('REPOSITORY_NOT_FOUND', `no backup repository at ${backend.location} (create one with "bulwark backup init")`);
      throw err;
    });
    const names: string[] = [];
    for await (const file of backend.list('keys')) names.push(file.name);
    // Each try may cost an scrypt: a repository stuffed with key files must not make opening take minutes.
    if (names.length > MAX_KEYS) throw new BulwarkError('REPOSITORY_DAMAGED', `the repository has ${names.length} key files; more than ${MAX_KEYS} is not one Bulwark made`);
    let configFailure: unknown;
    for (const name of names.sort()) {
      // A damaged or foreign key file is passed over: another key may still open the repository.
      const material = await backend
        .read('keys', name)
        .then((bytes) => unwrapRepositoryKeys(parseKeyFile(bytes, name), credential))
        .catch(() => undefined);
      if (!material) continue;
      const keys = decodeRepositoryKeys(Buffer.from(material));
      material.fill(0);
      let config: RepositoryConfig;
      try {
        config = JSON.parse(open(keys.encryption, sealedConfig, fileAad('config'), 'the repository config').toString('utf8')) as RepositoryConfig;
      } catch (err) {
        // A key left by an init that lost a race opens with this credential but belongs to no repository: try the next.
        wipeRepositoryKeys(keys);
        configFailure = err;
        continue;
      }
      if (config.v !== 1 || config.version !== REPOSITORY_VERSION) {
        throw new BulwarkError('REPOSITORY_DAMAGED', `the repository has format version ${String(config.version)}; this Bulwark reads version ${REPOSITORY_VERSION}`);
      }
      return new Repository(backend, keys, config, name, options);
    }
    // Keys opened but none fits the config: the config is what is wrong.
    if (configFailure !== undefined) throw configFailure;
    throw new BulwarkError('BACKUP_KEY_WRONG', `no key of the repository at ${backend.location} opens with the ${credential.kind === 'password' ? 'password' : 'key file'} given`);
  }

  /** Overwrites the keys in memory; the repository is not used afterwards. */
  close(): void {
    wipeRepositoryKeys(this.keys);
  }

  // ---- keys ----------------------------------------------------------------

  async listKeys(): Promise<KeyListing[]> {
    const out: KeyListing[] = [];
    for await (const file of this.backend.list('keys')) {
      let key: KeyFileJson;
      try {
        key = parseKeyFile(await this.backend.read('keys', file.name), file.name);
      } catch {
        continue; // not a key this program can describe; `check` does not rely on keys
      }
      out.push({ id: file.name, created: key.created, host: key.host, user: key.user, kind: key.kdf === 'scrypt' ? 'password' : 'key-file', current: file.name === this.keyName });
    }
    return out.sort((a, b) => a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
  }

  async addKey(credential: Credential): Promise<string> {
    let count = 0;
    for await (const _ of this.backend.list('keys')) count++;
    if (count >= MAX_KEYS) throw new BulwarkError('CONFLICT', `the repository already has ${count} keys, the most it may hold; remove one first`);
    const file: KeyFileJson = await wrapRepositoryKeys(encodeRepositoryKeys(this.keys), credential, { host: hostname(), user: safeUser(), now: new Date() }, this.options.scryptCost);
    const name = randomBytes(32).toString('hex');
    await this.backend.write('keys', name, Buffer.from(JSON.stringify(file)), { exclusive: true });
    return name;
  }

  /** Removes a key by (a unique prefix of) its id; never the one in use, never the last. */
  async removeKey(prefix: string): Promise<string> {
    const keys = await this.listKeys();
    const matches = keys.filter((k) => k.id.startsWith(prefix));
    if (!/^[0-9a-f]{4,64}$/.test(prefix)) throw new BulwarkError('BAD_REQUEST', 'give at least 4 hex digits of the key id (see "bulwark backup key ls")');
    if (matches.length === 0) throw new BulwarkError('NOT_FOUND', `no key has an id starting with ${prefix}`);
    if (matches.length > 1) throw new BulwarkError('AMBIGUOUS_NAME', `${matches.length} keys have ids starting with ${prefix}; give more digits`);
    const key = matches[0] as KeyListing;
    if (key.current) throw new BulwarkError('CONFLICT', 'that is the key this command opened the repository with; open it with another key to remove this one');
    await this.backend.remove('keys', key.id);
    return key.id;
  }

  // ---- index -----------------------------------------------------------------

  packNumber(id: Buffer): number {
    const hex = id.toString('hex');
    let n = this.#packNumbers.get(hex);
    if (n === undefined) {
      n = this.#packIds.length;
      this.#packIds.push(id);
      this.#packNumbers.set(hex, n);
    }
    return n;
  }

  packId(n: number): Buffer {
    const id = this.#packIds[n];
    if (!id) throw new BulwarkError('INTERNAL', `pack number ${n} is unknown`);
    return id;
  }

  /** Adds an index file's entries to the in-memory index. */
  addIndexPacks(packs: readonly IndexPack[]): void {
    for (const pack of packs) {
      const n = this.packNumber(pack.id);
      for (const b of pack.blobs) this.index.add(b.id, { type: b.type, pack: n, offset: b.offset, length: b.length, rawLength: b.rawLength });
    }
  }

  /**
   * Reads every index file; returns how many there were. With `presentPacksOnly`
   * (what a backup does) entries of packs that are not in `data/` are left out:
   * an old index file put back by someone with write access to the storage (but
   * no keys) must not make a backup believe data is stored that prune removed.
   */
  async loadIndex(options: { presentPacksOnly?: boolean } = {}): Promise<number> {
    const names: string[] = [];
    for await (const file of this.backend.list('index')) names.push(file.name);
    let present: Set<string> | undefined;
    if (options.presentPacksOnly) {
      present = new Set();
      for await (const file of this.backend.list('data')) present.add(file.name);
    }
    const decoded = await mapLimit(names, 8, async (name) => decodeIndex(this.keys.encryption, await this.backend.read('index', name), name));
    for (const [i, packs] of decoded.entries()) {
      this.addIndexPacks(present === undefined ? packs : packs.filter((p) => present.has(p.id.toString('hex'))));
      this.#indexFiles.add(names[i] as string);
    }
    return names.length;
  }

  get indexFiles(): ReadonlySet<string> {
    return this.#indexFiles;
  }

  locate(id: Uint8Array): BlobLocation | undefined {
    const entry = this.index.get(id);
    if (!entry) return undefined;
    return { type: entry.type as BlobType, pack: this.packId(entry.pack).toString('hex'), offset: entry.offset, length: entry.length, rawLength: entry.rawLength };
  }

  // ---- reading ---------------------------------------------------------------

  /** Opens a sealed blob on this thread (a promise, so a worker pool's opener can stand in for it). */
  openBlob(type: BlobType, id: Uint8Array, sealed: Buffer, rawLength: number): Promise<Buffer> {
    try {
      return Promise.resolve(openBlob(this.keys, type, id, sealed, rawLength));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  async readBlob(type: BlobType, id: Uint8Array): Promise<Buffer> {
    const hex = Buffer.from(id).toString('hex');
    const loc = this.locate(id);
    if (!loc || loc.type !== type) throw new BulwarkError('REPOSITORY_DAMAGED', `${type === BLOB_TREE ? 'tree' : 'data'} blob ${hex.slice(0, 12)} is in no index: the repository is missing data`);
    const sealed = await this.backend.read('data', loc.pack, { offset: loc.offset, length: loc.length });
    return this.openBlob(type, id, sealed, loc.rawLength);
  }

  async loadTree(hex: string): Promise<Tree> {
    return decodeTree(await this.readBlob(BLOB_TREE, Buffer.from(hex, 'hex')), hex);
  }

  // ---- snapshots -------------------------------------------------------------

  async loadSnapshot(id: string): Promise<SnapshotRef> {
    const plain = open(this.keys.encryption, await this.backend.read('snapshots', id), fileAad('snapshot', id), `snapshot ${id.slice(0, 8)}`);
    return parseSnapshot(plain, id);
  }

  /** Every snapshot, oldest first. A snapshot that fails to open is reported through `onError` and left out. */
  async listSnapshots(onError?: (id: string, err: BulwarkError) => void): Promise<SnapshotRef[]> {
    const names: string[] = [];
    for await (const file of this.backend.list('snapshots')) names.push(file.name);
    const loaded = await mapLimit(names, 8, async (name) => {
      try {
        return await this.loadSnapshot(name);
      } catch (err) {
        if (!onError || !(err instanceof BulwarkError)) throw err;
        onError(name, err);
        return undefined;
      }
    });
    return loaded.filter((s): s is SnapshotRef => s !== undefined).sort((a, b) => Date.parse(a.time) - Date.parse(b.time) || a.id.localeCompare(b.id));
  }

  /** Writes a snapshot. Call only after `flush()`: a snapshot must never name data that is not durable. */
  async saveSnapshot(snapshot: Snapshot): Promise<string> {
    const id = randomBytes(32).toString('hex');
    await this.backend.write('snapshots', id, seal(this.keys.encryption, Buffer.from(JSON.stringify(snapshot)), fileAad('snapshot', id)), { exclusive: true });
    return id;
  }

  async removeSnapshot(id: string): Promise<void> {
    await this.backend.remove('snapshots', id);
  }

  // ---- writing ---------------------------------------------------------------

  get writer(): PackWriter {
    this.#writer ??= new PackWriter(this);
    return this.#writer;
  }

  /** Stores a blob on this thread unless an identical one is already there (or on its way); returns its id. */
  async saveBlob(type: BlobType, plain: Buffer): Promise<Buffer> {
    const id = blobId(this.keys.mac, type, plain);
    if (this.writer.claim(id)) await this.writer.add(type, id, sealBlob(this.keys, type, id, plain), plain.length);
    return id;
  }

  /** Stores a tree unless an identical one is already there; returns its id (hex). */
  async saveTree(tree: Tree): Promise<string> {
    return (await this.saveBlob(BLOB_TREE, encodeTree(tree))).toString('hex');
  }

  /** Makes every blob added so far durable: packs written, then an index file naming them. */
  async flush(): Promise<void> {
    if (this.#writer) await this.#writer.flush();
  }

  /** Writes index files for the given packs (split so none grows too large); returns their names. */
  async writeIndex(packs: readonly IndexPack[]): Promise<string[]> {
    const names: string[] = [];
    let batch: IndexPack[] = [];
    let blobs = 0;
    const emit = async (): Promise<void> => {
      if (batch.length === 0) return;
      const name = randomBytes(32).toString('hex');
      await this.backend.write('index', name, encodeIndex(this.keys.encryption, batch, name), { exclusive: true });
      this.#indexFiles.add(name);
      names.push(name);
      batch = [];
      blobs = 0;
    };
    for (const pack of packs) {
      if (blobs + pack.blobs.length > MAX_BLOBS_PER_INDEX_FILE) await emit();
      batch.push(pack);
      blobs += pack.blobs.length;
    }
    await emit();
    return names;
  }
}

/** A sealed data blob from a worker: a view into the buffer its batch came in. */
export interface SealedData {
  id: Buffer;
  sealed: Buffer;
  rawLength: number;
}

/**
 * Collects sealed blobs into packs, written as they fill (a pack is streamed to
 * storage in pieces of APPEND_BYTES, not held whole in memory) and committed at
 * most UPLOADS_IN_FLIGHT at a time; callers wait when storage is the bottleneck,
 * which bounds memory. A blob is entered in the index as soon as it is added,
 * so the same content offered twice (by two files, or two workers) is stored once.
 */
export class PackWriter {
  #id = randomBytes(32);
  #entries: PackEntry[] = [];
  #bytes = 0;
  /** The open pack's file, opened with its first piece. */
  #file: Promise<FileWriter> | undefined;
  /** Sealed blobs not yet handed to the file. */
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  /** The open pack's appends, one after another. */
  #appended: Promise<void> = Promise.resolve();
  readonly #uploads = new Semaphore(UPLOADS_IN_FLIGHT);
  readonly #inFlight = new Set<Promise<void>>();
  readonly #written: IndexPack[] = [];
  /** Ids being sealed by a worker: known to be on their way, not yet in a pack. */
  readonly #claimed = new Set<string>();
  #failure: unknown;
  /** Bytes of sealed blobs written (or being written) since the writer was made. */
  bytesStored = 0;
  /** Plaintext bytes of those blobs. */
  rawBytesStored = 0;
  blobsStored = 0;

  constructor(private readonly repo: Repository) {}

  /** Reserves a blob id: true when it is new (the caller must then `add` it), false when it is already stored or on its way. */
  claim(id: Buffer): boolean {
    if (this.repo.index.has(id)) return false;
    const hex = id.toString('hex');
    if (this.#claimed.has(hex)) return false;
    this.#claimed.add(hex);
    return true;
  }

  /** Appends a sealed blob (claimed or not) to the current pack; waits while its file or storage catches up. */
  async add(type: BlobType, id: Buffer, sealed: readonly Buffer[], rawLength: number): Promise<void> {
    if (this.#failure) throw this.#failure;
    this.#enter(type, id, sealed, rawLength);
    if (this.#bytes >= PACK_TARGET_BYTES) await this.#closePack();
    else if (this.#pendingBytes >= APPEND_BYTES) await this.#append([]);
  }

  /**
   * Adds blobs (claimed or not) and resolves once their bytes are in their packs'
   * files (written, not yet durable): true then, when nothing here holds their
   * memory any more and their buffer may be reused; false for a backend that
   * collects a pack in memory until it is whole (S3).
   */
  async addWritten(blobs: readonly SealedData[]): Promise<boolean> {
    const written: Promise<void>[] = [];
    for (const blob of blobs) {
      if (this.#failure) throw this.#failure;
      this.#enter(BLOB_DATA, blob.id, [blob.sealed], blob.rawLength);
      if (this.#bytes >= PACK_TARGET_BYTES) written.push((await this.#closePack()).appended);
    }
    written.push(this.#append([]));
    await Promise.all(written);
    return this.repo.backend.openWriter !== undefined;
  }

  #enter(type: BlobType, id: Buffer, sealed: readonly Buffer[], rawLength: number): void {
    const length = sealed.reduce((n, p) => n + p.length, 0);
    const entry: PackEntry = { type, id, offset: this.#bytes, length, rawLength };
    this.#entries.push(entry);
    this.#pending.push(...sealed);
    this.#pendingBytes += length;
    this.#bytes += length;
    this.bytesStored += length;
    this.rawBytesStored += rawLength;
    this.blobsStored++;
    this.repo.index.add(id, { type, pack: this.repo.packNumber(this.#id), offset: entry.offset, length, rawLength });
    this.#claimed.delete(id.toString('hex'));
  }

  /** Hands the pending blobs (and `more`) to the open pack's file, after its earlier appends; resolves when they are written. */
  #append(more: readonly Uint8Array[]): Promise<void> {
    if (this.#pending.length === 0 && more.length === 0) return this.#appended;
    const parts = [...this.#pending.splice(0), ...more];
    this.#pendingBytes = 0;
    const name = this.#id.toString('hex');
    const file = (this.#file ??= openWriter(this.repo.backend, 'data', name, { exclusive: true }));
    // Handled through the chain (and the pack's upload); this only keeps an early failure from being "unhandled".
    file.catch(() => undefined);
    this.#appended = this.#appended.then(async () => (await file).append(parts));
    return this.#appended;
  }

  /** Finishes the open pack and starts its commit (waiting for a free upload slot); gives its last append. */
  async #closePack(): Promise<{ appended: Promise<void> }> {
    if (this.#entries.length === 0) return { appended: this.#appended };
    const id = this.#id;
    const entries = this.#entries;
    const appended = this.#append([encodePackHeader(this.repo.keys.encryption, entries)]);
    const file = this.#file as Promise<FileWriter>;
    this.#id = randomBytes(32);
    this.#entries = [];
    this.#bytes = 0;
    this.#file = undefined;
    this.#appended = Promise.resolve();
    await this.#uploads.acquire();
    const upload = appended
      .then(async () => {
        await (await file).commit();
        this.#written.push({ id, blobs: entries.map((e) => ({ type: e.type, id: e.id, offset: e.offset, length: e.length, rawLength: e.rawLength })) });
      })
      .catch(async (err: unknown) => {
        this.#failure ??= err;
        await file.then((f) => f.abort()).catch(() => undefined);
      })
      .finally(() => {
        this.#uploads.release();
        this.#inFlight.delete(upload);
      });
    this.#inFlight.add(upload);
    return { appended };
  }

  /**
   * After a failed backup: the open pack's file is removed (none of its blobs is in
   * an index file), and packs already being committed are waited for (they stay
   * unreferenced until prune). The writer is not used afterwards.
   */
  async discard(): Promise<void> {
    // A worker's blobs still on their way must not open another file.
    this.#failure ??= new BulwarkError('INTERNAL', 'the backup was given up');
    const file = this.#file;
    this.#file = undefined;
    this.#entries = [];
    this.#pending = [];
    this.#pendingBytes = 0;
    await this.#appended.catch(() => undefined);
    if (file) await file.then((f) => f.abort()).catch(() => undefined);
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  /** Closes the open pack, waits for every upload, then writes one index file for the packs written since the last flush. */
  async flush(): Promise<IndexPack[]> {
    await this.#closePack();
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
    if (this.#failure) throw this.#failure;
    const written = this.#written.splice(0);
    if (written.length > 0) await this.repo.writeIndex(written);
    return written;
  }
}
