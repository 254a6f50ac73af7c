import type { Kysely } from 'kysely';
import type { RecordBinding } from '../keyring/envelope.js';
import type { Database } from './database.js';

/** One stored ciphertext: where it is and what it is bound to. */
export interface EncryptedValue {
  /** The row's key in its table, for `replace` and for ordering a sweep. */
  key: string;
  sealed: string;
  binding: RecordBinding;
  /**
   * The associated data the value was sealed with before envelope encryption
   * (`bwk1.` values sealed directly under the master key), so an upgrade can move it.
   */
  legacyContext: string;
}

/**
 * A column (or JSON field) that holds keyring ciphertext. The re-wrap sweep and
 * the upgrade from directly sealed values walk every field listed in
 * ENCRYPTED_FIELDS, so a new kind of secret at rest must be added there.
 */
export interface EncryptedField {
  /** For status output: `users.totp_secret`. */
  name: string;
  /** Values in key order after `after` (exclusive), at most `limit`. */
  scan(db: Kysely<Database>, after: string | undefined, limit: number): Promise<EncryptedValue[]>;
  /** Values not wrapped under `version`; used to count what a re-wrap has left. */
  countNotUnder(db: Kysely<Database>, version: number): Promise<number>;
  /** Compare-and-set: replaces the value only if it is still `expected`, so a concurrent write is never undone. */
  replace(db: Kysely<Database>, key: string, expected: string, next: string): Promise<boolean>;
}

const notUnder = (version: number): string => `bwe1.${version}.%`;

/** The sealed private keys kept in `cluster_state` as JSON `{…, sealedKey}`. */
function clusterStateKey(stateKey: string, legacyContext: (db: Kysely<Database>) => Promise<string>): EncryptedField {
  const binding: RecordBinding = { table: 'cluster_state', id: stateKey, version: 1 };
  async function read(db: Kysely<Database>): Promise<{ raw: string; parsed: Record<string, unknown> } | undefined> {
    const row = await db.selectFrom('cluster_state').select('value').where('key', '=', stateKey).executeTakeFirst();
    if (!row) return undefined;
    const parsed = JSON.parse(row.value) as Record<string, unknown>;
    return typeof parsed.sealedKey === 'string' ? { raw: row.value, parsed } : undefined;
  }
  return {
    name: `cluster_state.${stateKey}`,
    async scan(db, after) {
      if (after !== undefined) return [];
      const found = await read(db);
      if (!found) return [];
      return [{ key: stateKey, sealed: found.parsed.sealedKey as string, binding, legacyContext: await legacyContext(db) }];
    },
    async countNotUnder(db, version) {
      const found = await read(db);
      return found && !(found.parsed.sealedKey as string).startsWith(`bwe1.${version}.`) ? 1 : 0;
    },
    async replace(db, key, expected, next) {
      const found = await read(db);
      if (!found || found.parsed.sealedKey !== expected) return false;
      const value = JSON.stringify({ ...found.parsed, sealedKey: next });
      const result = await db.updateTable('cluster_state').set({ value }).where('key', '=', key).where('value', '=', found.raw).executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },
  };
}

function userColumn(column: 'totp_secret' | 'totp_pending', legacyPrefix: string): EncryptedField {
  const table = `users.${column}`;
  return {
    name: table,
    async scan(db, after, limit) {
      let query = db.selectFrom('users').select(['id', column]).where(column, 'is not', null).orderBy('id').limit(limit);
      if (after !== undefined) query = query.where('id', '>', after);
      const rows = await query.execute();
      return rows.map((r) => ({
        key: r.id,
        sealed: r[column] as string,
        binding: { table, id: r.id, version: 1 },
        legacyContext: `${legacyPrefix}${r.id}`,
      }));
    },
    async countNotUnder(db, version) {
      const row = await db
        .selectFrom('users')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where(column, 'is not', null)
        .where(column, 'not like', notUnder(version))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
    async replace(db, key, expected, next) {
      const result = await db.updateTable('users').set({ [column]: next }).where('id', '=', key).where(column, '=', expected).executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },
  };
}

/**
 * Secret values, one per (path, version). The sweep's key is
 * `path NUL version`: NUL never occurs in a path, and the order is the
 * database's own (path, version) order, so `after` resumes exactly.
 * Destroyed versions (NULL) hold nothing to re-wrap.
 */
function secretVersionValues(): EncryptedField {
  const SEP = '\u0000';
  const split = (key: string): { path: string; version: number } => {
    const at = key.lastIndexOf(SEP);
    return { path: key.slice(0, at), version: Number(key.slice(at + 1)) };
  };
  return {
    name: 'secret_versions.value',
    async scan(db, after, limit) {
      let query = db.selectFrom('secret_versions').select(['path', 'version', 'value']).where('value', 'is not', null).orderBy('path').orderBy('version').limit(limit);
      if (after !== undefined) {
        const last = split(after);
        query = query.where((eb) => eb.or([eb('path', '>', last.path), eb.and([eb('path', '=', last.path), eb('version', '>', last.version)])]));
      }
      const rows = await query.execute();
      return rows.map((r) => ({
        key: `${r.path}${SEP}${r.version}`,
        sealed: r.value as string,
        binding: { table: 'secret_versions', id: r.path, version: r.version },
        legacyContext: '',
      }));
    },
    async countNotUnder(db, version) {
      const row = await db
        .selectFrom('secret_versions')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('value', 'is not', null)
        .where('value', 'not like', notUnder(version))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
    async replace(db, key, expected, next) {
      const { path, version } = split(key);
      const result = await db.updateTable('secret_versions').set({ value: next }).where('path', '=', path).where('version', '=', version).where('value', '=', expected).executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },
  };
}

/**
 * The repository credential of each backup policy (password or key file, and
 * S3 keys), bound to the policy's id and its credential version, which moves
 * each time a new credential is stored.
 */
function backupPolicyCredentials(): EncryptedField {
  return {
    name: 'backup_policies.credential',
    async scan(db, after, limit) {
      let query = db.selectFrom('backup_policies').select(['id', 'credential', 'credential_version']).orderBy('id').limit(limit);
      if (after !== undefined) query = query.where('id', '>', after);
      const rows = await query.execute();
      return rows.map((r) => ({
        key: r.id,
        sealed: r.credential,
        binding: { table: 'backup_policies', id: r.id, version: r.credential_version },
        legacyContext: '',
      }));
    },
    async countNotUnder(db, version) {
      const row = await db
        .selectFrom('backup_policies')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('credential', 'not like', notUnder(version))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
    async replace(db, key, expected, next) {
      const result = await db.updateTable('backup_policies').set({ credential: next }).where('id', '=', key).where('credential', '=', expected).executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },
  };
}

/** Every place keyring ciphertext is stored. */
export const ENCRYPTED_FIELDS: readonly EncryptedField[] = [
  clusterStateKey('pki.ca', async (db) => {
    const name = await db.selectFrom('cluster_state').select('value').where('key', '=', 'cluster.name').executeTakeFirst();
    return `cluster_state:pki.ca:${name?.value ?? ''}`;
  }),
  clusterStateKey('audit.key', async () => 'cluster_state:audit.key'),
  clusterStateKey('ssh.user_ca', async () => 'cluster_state:ssh.user_ca'),
  userColumn('totp_secret', 'users.totp_secret:'),
  userColumn('totp_pending', 'users.totp_pending:'),
  secretVersionValues(),
  backupPolicyCredentials(),
];
