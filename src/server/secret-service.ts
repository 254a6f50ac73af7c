import { setTimeout as sleep } from 'node:timers/promises';
import { randomInt } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { BulwarkError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { RecordCipher, RecordBinding } from '../keyring/record-cipher.js';
import type { SecretSummaryView, SecretVersionView } from '../protocol/secrets.js';
import { checkSecretPath, quotePath } from '../secrets/path.js';
import { checkMaxVersions, DEFAULT_MAX_VERSIONS, versionState } from '../secrets/retention.js';
import { checkSecretValue } from '../secrets/value.js';
import type { Store } from '../store/open.js';
import {
  destroySecretVersion,
  getSecret,
  getSecretVersion,
  listSecrets,
  listSecretVersions,
  liveCurrentVersions,
  markSecretVersionDeleted,
  writeSecretVersion,
  type SecretRecord,
  type SecretVersionRecord,
} from '../store/secrets.js';

/** Published with the secret's path after every change; the delivery service listens. */
export const SECRETS_CHANNEL = 'bulwark_secrets';

/** The binding table of every secret ciphertext: a value moved to another path or version no longer decrypts. */
export const SECRET_BINDING_TABLE = 'secret_versions';

// Losing the compare-and-set means another writer just wrote: retrying is cheap,
// and only a path under constant contention runs out of attempts.
const MAX_WRITE_ATTEMPTS = 50;

export interface SecretServiceOptions {
  store: Store;
  cipher: RecordCipher;
  clock: Clock;
  log: Logger;
}

export interface SecretValue {
  path: string;
  version: number;
  value: Buffer;
  createdBy: string;
  createdAt: number;
}

export interface SecretWritten {
  path: string;
  version: number;
  maxVersions: number;
  removedVersions: number[];
}

export interface SecretRemoved {
  path: string;
  version: SecretVersionView;
  changed: boolean;
}

function binding(path: string, version: number): RecordBinding {
  return { table: SECRET_BINDING_TABLE, id: path, version };
}

function versionView(v: SecretVersionRecord): SecretVersionView {
  return { version: v.version, state: versionState(v), createdBy: v.createdBy, createdAt: v.createdAt, deletedAt: v.deletedAt, destroyedAt: v.destroyedAt };
}

function noSecret(path: string): BulwarkError {
  return new BulwarkError('NOT_FOUND', `no secret ${quotePath(path)}; list secrets with \`bulwark secret ls\``);
}

/**
 * The versioned secrets store. Values exist in plain form only in memory: they
 * are stored as keyring ciphertext bound to (secret_versions, path, version),
 * and no message, log line or audit entry this service produces holds one.
 * Every change is published on {@link SECRETS_CHANNEL} with the path, for the
 * replicas and the delivery service.
 */
export class SecretService {
  readonly #store: Store;
  readonly #cipher: RecordCipher;
  readonly #clock: Clock;
  readonly #log: Logger;

  constructor(opts: SecretServiceOptions) {
    this.#store = opts.store;
    this.#cipher = opts.cipher;
    this.#clock = opts.clock;
    this.#log = opts.log;
  }

  /** Stores `value` as the secret's next version (creating the secret), applying its retention. */
  async put(path: string, value: Uint8Array, actor: string, opts: { maxVersions?: number } = {}): Promise<SecretWritten> {
    checkSecretPath(path);
    checkSecretValue(value);
    if (opts.maxVersions !== undefined) checkMaxVersions(opts.maxVersions);
    return this.#write(path, value, actor, opts.maxVersions);
  }

  /** The value of a version (default: the current one). NOT_FOUND for a missing secret or version, and for a deleted or destroyed one. */
  async get(path: string, version?: number): Promise<SecretValue> {
    checkSecretPath(path);
    const secret = await getSecret(this.#store.db, path);
    if (!secret) throw noSecret(path);
    const row = await this.#version(secret, version ?? secret.currentVersion);
    const state = versionState(row);
    if (state === 'destroyed' || row.sealed === null) {
      throw new BulwarkError('NOT_FOUND', `version ${row.version} of secret ${quotePath(path)} was destroyed; its value is gone`);
    }
    if (state === 'deleted') {
      throw new BulwarkError('NOT_FOUND', `version ${row.version} of secret ${quotePath(path)} is deleted; bring it back with \`bulwark secret rollback ${path} --version ${row.version}\``);
    }
    const value = await this.#cipher.decrypt(row.sealed, binding(path, row.version));
    return { path, version: row.version, value, createdBy: row.createdBy, createdAt: row.createdAt };
  }

  /** Secrets whose path starts with `prefix`, narrowed to the paths `visible` lets through. */
  async list(opts: { prefix?: string; visible?: (path: string) => boolean } = {}): Promise<SecretSummaryView[]> {
    const rows = await listSecrets(this.#store.db, opts.prefix === undefined ? {} : { prefix: opts.prefix });
    const visible = opts.visible ?? (() => true);
    return rows
      .filter((r) => visible(r.path))
      .map((r) => ({ ...summary(r), state: versionState({ deletedAt: r.currentDeletedAt, destroyedAt: r.currentDestroyedAt }) }));
  }

  /** The secret and the metadata of every version it keeps, oldest first. */
  async versions(path: string): Promise<{ secret: SecretSummaryView; versions: SecretVersionView[] }> {
    checkSecretPath(path);
    const secret = await getSecret(this.#store.db, path);
    if (!secret) throw noSecret(path);
    const versions = (await listSecretVersions(this.#store.db, path)).map(versionView);
    const current = versions.find((v) => v.version === secret.currentVersion);
    return { secret: { ...summary(secret), state: current?.state ?? 'destroyed' }, versions };
  }

  /**
   * Writes the value of version `version` as a new current version, as Vault's
   * KV rollback does; this is also how a deleted version comes back.
   */
  async rollback(path: string, version: number, actor: string): Promise<SecretWritten & { from: number }> {
    checkSecretPath(path);
    const secret = await getSecret(this.#store.db, path);
    if (!secret) throw noSecret(path);
    const row = await this.#version(secret, version);
    if (row.sealed === null || versionState(row) === 'destroyed') {
      throw new BulwarkError('CONFLICT', `version ${version} of secret ${quotePath(path)} was destroyed; there is no value to roll back to`);
    }
    const value = await this.#cipher.decrypt(row.sealed, binding(path, version));
    try {
      return { ...(await this.#write(path, value, actor, undefined)), from: version };
    } finally {
      value.fill(0);
    }
  }

  /**
   * Soft-deletes a version (default: the current one) so it no longer reads, or
   * with `destroy` erases its stored value for good. Repeating it changes nothing.
   */
  async remove(path: string, opts: { version?: number; destroy?: boolean }, actor: string): Promise<SecretRemoved> {
    checkSecretPath(path);
    const secret = await getSecret(this.#store.db, path);
    if (!secret) throw noSecret(path);
    const row = await this.#version(secret, opts.version ?? secret.currentVersion);
    const at = this.#clock.now();
    const changed = opts.destroy
      ? await destroySecretVersion(this.#store.db, path, row.version, at)
      : await markSecretVersionDeleted(this.#store.db, path, row.version, at);
    const after = (await getSecretVersion(this.#store.db, path, row.version)) ?? row;
    if (changed) {
      this.#log.info({ path, version: row.version, actor, destroyed: opts.destroy === true }, opts.destroy ? 'secret version destroyed' : 'secret version deleted');
      await this.#changed(path);
    }
    return { path, version: versionView(after), changed };
  }

  /**
   * The current value of a secret for delivery: undefined when the secret does
   * not exist or its current version is deleted or destroyed.
   */
  async currentValue(path: string): Promise<{ version: number; value: Buffer } | undefined> {
    const secret = await getSecret(this.#store.db, path);
    if (!secret) return undefined;
    const row = await getSecretVersion(this.#store.db, path, secret.currentVersion);
    if (!row || row.sealed === null || versionState(row) !== 'live') return undefined;
    return { version: row.version, value: await this.#cipher.decrypt(row.sealed, binding(path, row.version)) };
  }

  /** The live current version of each of `paths` that has one (missing, deleted or destroyed ones are left out). */
  async currentVersions(paths: readonly string[]): Promise<Map<string, number>> {
    return liveCurrentVersions(this.#store.db, paths);
  }

  async #version(secret: SecretRecord, version: number): Promise<SecretVersionRecord> {
    const row = await getSecretVersion(this.#store.db, secret.path, version);
    if (!row) {
      const hint = version > secret.currentVersion ? `its newest is ${secret.currentVersion}` : `it keeps the last ${secret.maxVersions}`;
      throw new BulwarkError('NOT_FOUND', `secret ${quotePath(secret.path)} has no version ${version} (${hint}); list them with \`bulwark secret versions ${secret.path}\``);
    }
    return row;
  }

  async #write(path: string, value: Uint8Array, actor: string, maxVersions: number | undefined): Promise<SecretWritten> {
    for (let attempt = 1; ; attempt++) {
      const current = await getSecret(this.#store.db, path);
      const expectedVersion = current?.currentVersion ?? 0;
      // The version number is part of the binding, so the value is sealed for the version it is about to become.
      const sealed = await this.#cipher.encrypt(value, binding(path, expectedVersion + 1));
      const result = await writeSecretVersion(this.#store.db, {
        path,
        expectedVersion,
        sealed,
        createdBy: actor,
        at: this.#clock.now(),
        maxVersions,
        defaultMaxVersions: DEFAULT_MAX_VERSIONS,
      });
      if (result.written) {
        this.#log.info({ path, version: result.version, actor, removedVersions: result.removed }, 'secret version written');
        await this.#changed(path);
        return { path, version: result.version, maxVersions: result.maxVersions, removedVersions: result.removed };
      }
      if (attempt >= MAX_WRITE_ATTEMPTS) {
        throw new BulwarkError('CONFLICT', `secret ${quotePath(path)} is being written by others at the same time; try again`);
      }
      // A little jitter so writers that collided do not collide again in lockstep.
      await sleep(randomInt(1, 5 + attempt));
    }
  }

  async #changed(path: string): Promise<void> {
    // The change is committed: failing the request now would report a stored change as not made.
    await this.#store.notifier.publish(SECRETS_CHANNEL, path).catch((err: unknown) => this.#log.warn({ err, path }, 'secret change notification failed'));
  }
}

function summary(r: SecretRecord): Omit<SecretSummaryView, 'state'> {
  return { path: r.path, currentVersion: r.currentVersion, maxVersions: r.maxVersions, createdAt: r.createdAt, updatedAt: r.updatedAt };
}
