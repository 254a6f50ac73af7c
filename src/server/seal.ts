import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { Kysely } from 'kysely';
import { join } from 'node:path';
import { BulwarkError } from '../core/errors.js';
import { fsyncDir, writeFileAtomic } from '../core/fs.js';
import { loadMasterKey, loadOrCreateMasterKey } from '../keyring/master-key-file.js';
import { masterKeyId } from '../keyring/master-key-keyring.js';
import { unwrapWithPassphrase, wrapWithPassphrase, type PassphraseCost } from '../keyring/passphrase.js';
import { combine, decodeShare, encodeShare, split, type Share } from '../keyring/shamir.js';
import { getClusterState, setClusterState } from '../store/cluster-state.js';
import type { Database } from '../store/database.js';
import type { Store } from '../store/open.js';

export const MASTER_KEY_FILE = 'master.key';
const SEAL_STATE = 'keyring.seal';
const KEY_BYTES = 32;

export type SealMethod = 'file' | 'passphrase' | 'shamir';

/**
 * How the master key is kept, stored in the database (every replica reads it).
 * `keyId` is a one-way id of the master key: it tells a wrong key from a right
 * one before anything is decrypted, and reveals nothing of the key.
 */
export interface SealConfig {
  method: SealMethod;
  keyId: string;
  /** passphrase: the master key wrapped under the scrypt-derived key (`bwp1.…`). */
  wrapped?: string;
  /** shamir: the split's set id, share count and threshold. */
  shares?: { setId: string; count: number; threshold: number };
  updatedAt: number;
}

/** What `init` (or `rekey`) chooses. */
export type SealChoice =
  | { method: 'file' }
  | { method: 'passphrase'; passphrase: string; cost?: PassphraseCost }
  | { method: 'shamir'; shares: number; threshold: number };

export async function readSealConfig(store: Store): Promise<SealConfig | undefined> {
  const raw = await getClusterState(store.db, SEAL_STATE);
  return raw === undefined ? undefined : (JSON.parse(raw) as SealConfig);
}

/** `db` may be a transaction: a rekey writes the configuration in the same commit as the re-sealed key versions. */
export async function writeSealConfig(db: Kysely<Database>, config: SealConfig): Promise<void> {
  await setClusterState(db, SEAL_STATE, JSON.stringify(config), config.updatedAt);
}

/** Where a rekey onto the key file puts the new key until the database has committed to it. */
export const STAGED_KEY_FILE = 'master.key.next';

/** After the rekey committed: the staged key file becomes the key file. */
export async function commitStagedKeyFile(dataDir: string): Promise<void> {
  await rename(join(dataDir, STAGED_KEY_FILE), join(dataDir, MASTER_KEY_FILE));
  await fsyncDir(dataDir);
}

/** After a rekey away from the key file: the old key opens nothing current, and should not lie around. */
export async function removeKeyFile(dataDir: string): Promise<void> {
  await rm(join(dataDir, MASTER_KEY_FILE), { force: true });
  await fsyncDir(dataDir);
}

/** A new (or, for the key file, the existing) master key protected as chosen; shares are returned once, never stored. */
export async function protectMasterKey(
  choice: SealChoice,
  dataDir: string,
  at: number,
  key?: Buffer,
): Promise<{ key: Buffer; config: SealConfig; shares?: string[] }> {
  if (choice.method === 'file') {
    const path = join(dataDir, MASTER_KEY_FILE);
    let fileKey: Buffer;
    if (key) {
      // A rekey onto the key file stages the new key beside the old one; it replaces it only once the
      // database holds the key versions sealed under it (commitStagedKeyFile), so a crash loses neither.
      await writeFileAtomic(join(dataDir, STAGED_KEY_FILE), `bulwark-master-key v1\n${key.toString('base64')}\n`, 0o600);
      fileKey = key;
    } else {
      fileKey = (await loadOrCreateMasterKey(path)).key;
    }
    return { key: fileKey, config: { method: 'file', keyId: masterKeyId(fileKey), updatedAt: at } };
  }
  const master = key ?? randomBytes(KEY_BYTES);
  if (choice.method === 'passphrase') {
    const wrapped = await wrapWithPassphrase(master, choice.passphrase, choice.cost);
    return { key: master, config: { method: 'passphrase', keyId: masterKeyId(master), wrapped, updatedAt: at } };
  }
  const shares = split(master, choice.shares, choice.threshold);
  const setId = shares[0]?.setId ?? '';
  return {
    key: master,
    config: { method: 'shamir', keyId: masterKeyId(master), shares: { setId, count: choice.shares, threshold: choice.threshold }, updatedAt: at },
    shares: shares.map(encodeShare),
  };
}

/** What an unseal attempt achieved: the key once complete, else how far the shares got. */
export interface UnsealStep {
  key?: Buffer;
  progress: number;
  threshold: number;
}

/**
 * Collects what unseals one replica: a passphrase, the key file, or shares given
 * one at a time (by one person or several). Shares are kept only in this
 * process's memory, and only for `resetAfterMs` after the last one.
 */
export class Unsealer {
  #shares: Share[] = [];
  #lastAt = 0;

  constructor(
    private readonly config: SealConfig,
    private readonly dataDir: string,
    private readonly resetAfterMs = 10 * 60_000,
  ) {}

  get threshold(): number {
    return this.config.method === 'shamir' ? (this.config.shares?.threshold ?? 1) : 1;
  }

  get progress(): number {
    this.#expire();
    return this.#shares.length;
  }

  reset(): void {
    for (const s of this.#shares) s.y.fill(0);
    this.#shares = [];
  }

  async submit(input: { passphrase?: string; share?: string }): Promise<UnsealStep> {
    const threshold = this.threshold;
    switch (this.config.method) {
      case 'file': {
        const key = await loadMasterKey(join(this.dataDir, MASTER_KEY_FILE));
        if (masterKeyId(key) !== this.config.keyId && existsSync(join(this.dataDir, STAGED_KEY_FILE))) {
          // A rekey committed but stopped before its new key file replaced the old one: finish it.
          const staged = await loadMasterKey(join(this.dataDir, STAGED_KEY_FILE));
          if (masterKeyId(staged) === this.config.keyId) {
            key.fill(0);
            await commitStagedKeyFile(this.dataDir);
            return { key: staged, progress: 1, threshold };
          }
          staged.fill(0);
        }
        return { key: this.#check(key, 'the key file holds a different master key than this cluster uses'), progress: 1, threshold };
      }
      case 'passphrase': {
        if (typeof input.passphrase !== 'string' || input.passphrase === '') throw new BulwarkError('BAD_REQUEST', 'this cluster is unsealed with a passphrase: give it (`bulwark unseal` asks for it)');
        const key = await unwrapWithPassphrase(this.config.wrapped ?? '', input.passphrase);
        return { key: this.#check(key, 'the passphrase does not unlock this cluster'), progress: 1, threshold };
      }
      case 'shamir':
        return this.#addShare(input.share);
    }
  }

  #addShare(text: string | undefined): UnsealStep {
    const threshold = this.threshold;
    if (typeof text !== 'string' || text === '') throw new BulwarkError('BAD_REQUEST', 'this cluster is unsealed with key shares: give one share (`bulwark unseal` asks for it)');
    this.#expire();
    const share = decodeShare(text);
    const expected = this.config.shares;
    if (!expected || share.setId !== expected.setId) {
      throw new BulwarkError('INVALID_SHARE', 'that share belongs to another set (an older one replaced by rekey, or another cluster); use a share of the current set');
    }
    if (share.threshold !== expected.threshold) throw new BulwarkError('INVALID_SHARE', 'that share names a different threshold than this cluster uses: it was altered');
    if (this.#shares.some((s) => s.x === share.x)) throw new BulwarkError('INVALID_SHARE', `share number ${share.x} was given already; give a different share`);
    this.#shares.push(share);
    this.#lastAt = Date.now();
    if (this.#shares.length < threshold) return { progress: this.#shares.length, threshold };
    const key = Buffer.from(combine(this.#shares));
    this.reset();
    return { key: this.#check(key, 'the shares do not combine to this cluster\'s master key: at least one was altered; start again with `bulwark unseal --reset`'), progress: threshold, threshold };
  }

  #check(key: Buffer, message: string): Buffer {
    if (masterKeyId(key) !== this.config.keyId) {
      key.fill(0);
      throw new BulwarkError('UNSEAL_FAILED', message);
    }
    return key;
  }

  #expire(): void {
    if (this.#shares.length > 0 && Date.now() - this.#lastAt > this.resetAfterMs) this.reset();
  }
}
