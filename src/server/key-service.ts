import type { Clock } from '../core/clock.js';
import { BulwarkError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { KeyHierarchy, newKek, type RecordBinding } from '../keyring/envelope.js';
import type { Keyring } from '../keyring/keyring.js';
import { fixedCipher, type RecordCipher } from '../keyring/record-cipher.js';
import { getClusterState, setClusterState } from '../store/cluster-state.js';
import { ENCRYPTED_FIELDS, type EncryptedField, type EncryptedValue } from '../store/encrypted-fields.js';
import { addActiveKek, listKeks, reserveEncryptions, resealKeks, retireKeks, type KekRecord } from '../store/keyring-keys.js';
import type { Kysely } from 'kysely';
import type { Database } from '../store/database.js';
import type { Store } from '../store/open.js';
import { withTransaction } from '../store/transaction.js';

/** NOTIFY channel: a replica changed the key versions (rotation, retirement); the others reload. */
const CHANNEL = 'bulwark_keyring';
const REWRAP_STATE = 'keyring.rewrap';
/** The seal configuration (src/server/seal.ts); its row orders rotations and rekeys across replicas. */
const SEAL_STATE = 'keyring.seal';

/**
 * A key version wraps at most this many data keys. AES-GCM with random 96-bit
 * nonces stays within its 2^-32 collision bound up to 2^32 encryptions; the
 * margin covers blocks reserved by replicas that have not used them yet.
 */
export const MAX_ENCRYPTIONS_PER_KEY = 2 ** 32 - 2 ** 24;

export interface KeyServiceOptions {
  maxEncryptionsPerKey?: number;
  /** Encryptions a replica reserves in the database at a time. Default 1,024. */
  reserveBlock?: number;
  /** Values re-wrapped per database round trip. Default 500. */
  rewrapBatch?: number;
  /**
   * How long a finished re-wrap waits before retiring the old versions, so a
   * value encrypted under an old version just before the rotation and written
   * just after is found by one more pass. Default 10 s (two refresh intervals).
   */
  retireGraceMs?: number;
  /** How often the key versions are re-read besides notifications. Default 5 s. */
  refreshMs?: number;
}

export interface RewrapProgress {
  /** The version values are being moved to. */
  target: number;
  total: number;
  done: number;
  startedAt: number;
  finishedAt: number | null;
  running: boolean;
}

export interface KeyVersionStatus {
  version: number;
  state: KekRecord['state'];
  encryptions: number;
  createdAt: number;
  retiredAt: number | null;
}

export interface KeyStatus {
  activeVersion: number;
  maxEncryptionsPerKey: number;
  versions: KeyVersionStatus[];
  rewrap: RewrapProgress | null;
}

interface Deps {
  store: Store;
  clock: Clock;
  log: Logger;
  /** Records rotations and finished re-wraps as events. */
  onEvent?: (type: string, details: Record<string, unknown>) => Promise<void>;
}

/**
 * The keyring of a running (unsealed) server: versioned key-encryption keys
 * sealed under the master key, envelope encryption for every value at rest,
 * rotation, and the background re-wrap that moves data keys to the newest
 * version and then retires the old ones.
 */
export class KeyService implements RecordCipher {
  readonly #deps: Deps;
  readonly #opts: Required<KeyServiceOptions>;
  #master: Keyring;
  #hierarchy: KeyHierarchy;
  #reserved = { version: 0, remaining: 0 };
  #reserving: Promise<void> | undefined;
  #rewrap: Promise<void> | undefined;
  #closed = false;
  #unsubscribe: () => void = () => undefined;
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #pausedUntil = 0;

  private constructor(deps: Deps, opts: Required<KeyServiceOptions>, master: Keyring, hierarchy: KeyHierarchy) {
    this.#deps = deps;
    this.#opts = opts;
    this.#master = master;
    this.#hierarchy = hierarchy;
  }

  /**
   * Opens the key versions with the master key, creating version 1 on a new
   * cluster, moves any value sealed directly under the master key (an older
   * release) into envelope form, and resumes an unfinished re-wrap.
   */
  static async open(deps: Deps, master: Keyring, options: KeyServiceOptions = {}): Promise<KeyService> {
    const opts: Required<KeyServiceOptions> = {
      maxEncryptionsPerKey: options.maxEncryptionsPerKey ?? MAX_ENCRYPTIONS_PER_KEY,
      reserveBlock: options.reserveBlock ?? 1024,
      rewrapBatch: options.rewrapBatch ?? 500,
      retireGraceMs: options.retireGraceMs ?? 10_000,
      refreshMs: options.refreshMs ?? 5_000,
    };
    let keks = await listKeks(deps.store.db);
    if (!keks.some((k) => k.state === 'active')) {
      // Two replicas starting together both try; the primary key keeps one.
      await addActiveKek(deps.store.db, newKek(master, 1), deps.clock.now());
      keks = await listKeks(deps.store.db);
    }
    const service = new KeyService(deps, opts, master, hierarchyOf(master, keks));
    service.#unsubscribe = deps.store.notifier.subscribe(CHANNEL, () => void service.refresh().catch(() => undefined));
    await service.#upgradeLegacy();
    service.#timer = setInterval(() => void service.#tick(), opts.refreshMs);
    service.#timer.unref();
    service.#tick();
    return service;
  }

  get activeVersion(): number {
    return this.#hierarchy.activeVersion;
  }

  async encrypt(plaintext: Uint8Array, binding: RecordBinding): Promise<string> {
    await this.#take();
    return this.#hierarchy.encrypt(plaintext, binding);
  }

  async decrypt(sealed: string, binding: RecordBinding): Promise<Buffer> {
    const version = this.#hierarchy.kekVersionOf(sealed);
    // A version newer than ours was made by another replica a moment ago.
    if (version !== undefined && version > this.#hierarchy.activeVersion) await this.refresh();
    return this.#hierarchy.decrypt(sealed, binding);
  }

  /** Makes a new key version active at once and starts moving existing data keys to it. */
  async rotate(reason: 'manual' | 'limit' = 'manual'): Promise<number> {
    return this.#exclusive(async () => {
      for (let attempt = 0; attempt < 5; attempt++) {
        const keks = await listKeks(this.#deps.store.db);
        const version = Math.max(0, ...keks.map((k) => k.version)) + 1;
        const added = await withTransaction(this.#deps.store.db, async (tx) => {
          await this.#assertCurrentMaster(tx);
          return addActiveKek(tx, newKek(this.#master, version), this.#deps.clock.now());
        });
        if (added) {
          await this.refresh();
          await this.#deps.store.notifier.publish(CHANNEL, String(version)).catch(() => undefined);
          this.#deps.log.info({ version, reason }, 'keyring rotated');
          await this.#deps.onEvent?.('keyring.rotated', { version, reason });
          this.#startRewrap();
          return version;
        }
      }
      throw new BulwarkError('CONFLICT', 'the keyring was rotated by another replica at the same time; check `bulwark keys status`');
    });
  }

  /** Re-reads the key versions (another replica rotated or retired one). */
  async refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        const keks = await listKeks(this.#deps.store.db);
        const previous = this.#hierarchy;
        this.#hierarchy = hierarchyOf(this.#master, keks);
        // Every use of a hierarchy is synchronous, so the old one is no longer in use.
        previous.dispose();
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  /**
   * Seals every live key version under a new master key (rekey), and runs
   * `alsoInTransaction` (the new seal configuration) in the same commit. Nothing
   * else is re-encrypted: data keys stay wrapped under the same key versions.
   */
  async reseal(next: Keyring, alsoInTransaction: (tx: Kysely<Database>) => Promise<void>): Promise<void> {
    await this.#exclusive(async () => {
      await withTransaction(this.#deps.store.db, async (tx) => {
        await this.#assertCurrentMaster(tx);
        const sealed = new Map<number, string>();
        for (const kek of await listKeks(tx)) {
          if (kek.state === 'retired') continue;
          const key = this.#master.open(kek.sealed, `keyring:kek:${kek.version}`);
          sealed.set(kek.version, next.seal(key, `keyring:kek:${kek.version}`));
          key.fill(0);
        }
        await resealKeks(tx, sealed);
        await alsoInTransaction(tx);
      });
      disposeKeyring(this.#master);
      this.#master = next;
    });
  }

  /**
   * Holds the seal configuration's row for the rest of the transaction and checks
   * that this replica's master key is still the cluster's: a key version made or
   * re-sealed under a master key that a rekey replaced would be unreadable.
   */
  async #assertCurrentMaster(tx: Kysely<Database>): Promise<void> {
    await tx.updateTable('cluster_state').set((eb) => ({ updated_at: eb.ref('updated_at') })).where('key', '=', SEAL_STATE).execute();
    const raw = await getClusterState(tx, SEAL_STATE);
    if (raw === undefined) return;
    const { keyId } = JSON.parse(raw) as { keyId?: string };
    if (keyId !== undefined && keyId !== this.#master.keyId) {
      throw new BulwarkError('CONFLICT', 'the master key was replaced by a rekey on another replica; seal this replica and unseal it with the new passphrase, shares or key file');
    }
  }

  /** Rotation and rekey one at a time in this process (across replicas the seal row's lock orders them). */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async status(): Promise<KeyStatus> {
    const keks = await listKeks(this.#deps.store.db);
    const progress = (await this.#readProgress()) ?? null;
    return {
      activeVersion: this.#hierarchy.activeVersion,
      maxEncryptionsPerKey: this.#opts.maxEncryptionsPerKey,
      versions: keks.map((k) => ({ version: k.version, state: k.state, encryptions: k.encryptions, createdAt: k.createdAt, retiredAt: k.retiredAt })),
      rewrap: progress ? { ...progress, running: this.#rewrap !== undefined || progress.finishedAt === null } : null,
    };
  }

  /** Resolves when a re-wrap running in this process has finished (tests, benchmarks). */
  async rewrapIdle(): Promise<void> {
    while (this.#rewrap) await this.#rewrap;
  }

  /** Stops the background work and erases the keys from memory (seal, shutdown). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#unsubscribe();
    await this.#rewrap?.catch(() => undefined);
    await this.#queue;
    this.#hierarchy.dispose();
    disposeKeyring(this.#master);
  }

  /** Takes one encryption from this replica's reserved block, reserving another (or rotating) when it runs out. */
  async #take(): Promise<void> {
    for (;;) {
      if (this.#reserved.version === this.#hierarchy.activeVersion && this.#reserved.remaining > 0) {
        this.#reserved.remaining--;
        return;
      }
      this.#reserving ??= this.#reserve().finally(() => {
        this.#reserving = undefined;
      });
      await this.#reserving;
    }
  }

  async #reserve(): Promise<void> {
    const version = this.#hierarchy.activeVersion;
    const block = this.#opts.reserveBlock;
    const total = await reserveEncryptions(this.#deps.store.db, version, block);
    if (total === undefined) {
      // Another replica made a newer version active.
      await this.refresh();
      if (this.#hierarchy.activeVersion === version) throw new BulwarkError('UNAVAILABLE', `key version ${version} is no longer active and no newer one could be loaded`);
      return;
    }
    if (total > this.#opts.maxEncryptionsPerKey) {
      this.#deps.log.warn({ version, encryptions: total }, 'key version reached its encryption limit; rotating');
      await this.rotate('limit');
      return;
    }
    this.#reserved = { version, remaining: block };
  }

  #tick(): void {
    if (this.#closed) return;
    void this.refresh()
      .then(() => {
        if (this.#hierarchy.versions.length > 1) this.#startRewrap();
      })
      .catch((err: unknown) => this.#deps.log.warn({ err }, 'reading the key versions failed'));
  }

  #startRewrap(): void {
    if (this.#rewrap || this.#closed || Date.now() < this.#pausedUntil) return;
    const lock = this.#deps.store.leaderLock('keyring-rewrap');
    this.#rewrap = (async () => {
      // One replica re-wraps at a time; another takes over if it dies (its lock goes with it).
      if (!(await lock.tryAcquire())) return;
      try {
        await this.#rewrapAll();
      } finally {
        await lock.release();
      }
    })()
      .catch((err: unknown) => this.#deps.log.error({ err }, 're-wrap failed; it resumes on the next refresh'))
      .finally(() => {
        this.#rewrap = undefined;
      });
  }

  /**
   * Moves every value to the active version, then — after a grace period and one
   * more pass that finds nothing — retires the older versions. Safe to run again
   * after a crash: what is left is recomputed from the database.
   */
  async #rewrapAll(): Promise<void> {
    const db = this.#deps.store.db;
    for (;;) {
      const target = this.#hierarchy.activeVersion;
      const remaining = await this.#countNotUnder(target);
      let progress = await this.#readProgress();
      if (!progress || progress.target !== target || progress.finishedAt !== null) {
        progress = { target, total: remaining, done: 0, startedAt: this.#deps.clock.now(), finishedAt: null, running: true };
      }
      progress.done = Math.max(0, progress.total - remaining);
      await this.#saveProgress(progress);
      if (remaining > 0) {
        let moved = 0;
        for (const field of ENCRYPTED_FIELDS) {
          moved += await this.#rewrapField(field, target, progress);
          if (this.#closed) return;
        }
        if (moved === 0) {
          // What is left cannot be opened (logged per value): do not spin on it; try again later.
          this.#deps.log.error({ target, remaining }, 're-wrap made no progress; values that cannot be re-wrapped remain; retrying in a minute');
          this.#pausedUntil = Date.now() + 60_000;
          return;
        }
        continue;
      }
      // Nothing left: wait out writes that encrypted under an old version before they saw the new one.
      await sleep(this.#opts.retireGraceMs, () => this.#closed);
      if (this.#closed) return;
      if ((await this.#countNotUnder(target)) > 0 || this.#hierarchy.activeVersion !== target) continue;
      const old = (await listKeks(db)).filter((k) => k.state === 'decrypt-only' && k.version < target).map((k) => k.version);
      await retireKeks(db, old, this.#deps.clock.now());
      progress.done = progress.total;
      progress.finishedAt = this.#deps.clock.now();
      await this.#saveProgress(progress);
      await this.refresh();
      await this.#deps.store.notifier.publish(CHANNEL, `retired:${old.join(',')}`).catch(() => undefined);
      if (old.length > 0) {
        this.#deps.log.info({ target, retired: old, values: progress.total }, 're-wrap finished; old key versions retired');
        await this.#deps.onEvent?.('keyring.rewrap_completed', { version: target, retired: old, values: progress.total });
      }
      return;
    }
  }

  /** Moves one field's values; returns how many moved. */
  async #rewrapField(field: EncryptedField, target: number, progress: RewrapProgress): Promise<number> {
    const db = this.#deps.store.db;
    let after: string | undefined;
    let total = 0;
    for (;;) {
      const batch = await field.scan(db, after, this.#opts.rewrapBatch);
      if (batch.length === 0) return total;
      after = batch[batch.length - 1]?.key;
      const updates: { value: EncryptedValue; next: string }[] = [];
      for (const value of batch) {
        if (this.#hierarchy.kekVersionOf(value.sealed) === target) continue;
        const next = await this.#moved(value);
        if (next !== undefined) updates.push({ value, next });
      }
      // One commit per batch: a crash loses at most the batch, which the next pass finds again.
      const moved = await withTransaction(db, async (tx) => {
        let n = 0;
        // A lost compare-and-set means a writer replaced the value meanwhile, under the active version.
        for (const u of updates) if (await field.replace(tx, u.value.key, u.value.sealed, u.next)) n++;
        return n;
      });
      total += moved;
      if (moved > 0) {
        progress.done = Math.min(progress.total, progress.done + moved);
        await this.#saveProgress(progress);
      }
      if (this.#closed) return total;
      // SQLite calls finish without a trip through the event loop: let requests and timers in between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** The value re-wrapped under the active version, or undefined when it cannot be opened (logged, left in place). */
  async #moved(value: EncryptedValue): Promise<string | undefined> {
    try {
      if (value.sealed.startsWith('bwk1.')) {
        const plaintext = this.#master.open(value.sealed, value.legacyContext);
        try {
          return await this.encrypt(plaintext, value.binding);
        } finally {
          plaintext.fill(0);
        }
      }
      await this.#take();
      return this.#hierarchy.rewrap(value.sealed, value.binding);
    } catch (err) {
      this.#deps.log.error({ err, table: value.binding.table, id: value.binding.id }, 'a stored value could not be re-wrapped; it is left as it is');
      return undefined;
    }
  }

  /** Values sealed directly under the master key by an older release move into envelope form at once. */
  async #upgradeLegacy(): Promise<void> {
    for (const field of ENCRYPTED_FIELDS) {
      let after: string | undefined;
      for (;;) {
        const batch = await field.scan(this.#deps.store.db, after, this.#opts.rewrapBatch);
        if (batch.length === 0) break;
        after = batch[batch.length - 1]?.key;
        for (const value of batch) {
          if (!value.sealed.startsWith('bwk1.')) continue;
          const next = await this.#moved(value);
          if (next !== undefined) await field.replace(this.#deps.store.db, value.key, value.sealed, next);
        }
      }
    }
  }

  async #countNotUnder(version: number): Promise<number> {
    let n = 0;
    for (const field of ENCRYPTED_FIELDS) n += await field.countNotUnder(this.#deps.store.db, version);
    return n;
  }

  async #readProgress(): Promise<RewrapProgress | null> {
    const raw = await getClusterState(this.#deps.store.db, REWRAP_STATE);
    if (raw === undefined) return null;
    const p = JSON.parse(raw) as Omit<RewrapProgress, 'running'>;
    return { ...p, running: false };
  }

  async #saveProgress(p: RewrapProgress): Promise<void> {
    const { running: _running, ...stored } = p;
    await setClusterState(this.#deps.store.db, REWRAP_STATE, JSON.stringify(stored), this.#deps.clock.now());
  }
}

function hierarchyOf(master: Keyring, keks: readonly KekRecord[]): KeyHierarchy {
  const live = keks.filter((k) => k.state !== 'retired');
  // The active version is the newest live one; KeyHierarchy picks the maximum.
  return new KeyHierarchy(master, live.map((k) => ({ version: k.version, sealed: k.sealed })));
}

/** Sleeps in short steps so a closing service does not wait out the whole period. */
async function sleep(ms: number, stop: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (!stop() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, Math.min(100, until - Date.now())));
}

/** The keys of a stored cluster opened with its master key, for offline tools (no counting, no rotation). */
export async function offlineCipher(store: Store, master: Keyring): Promise<RecordCipher> {
  const keks = await listKeks(store.db);
  if (!keks.some((k) => k.state === 'active')) throw new BulwarkError('NOT_INITIALISED', 'this database holds no keyring yet; start the server once');
  return fixedCipher(hierarchyOf(master, keks));
}

function disposeKeyring(keyring: Keyring): void {
  (keyring as Partial<{ dispose(): void }>).dispose?.();
}
