import type { Kysely, Selectable } from 'kysely';
import type { Retention } from '../protocol/backup.js';
import type { BackupPoliciesTable, Database } from './database.js';
import { parseJson } from './json.js';
import { withTransaction } from './transaction.js';

/** A stored policy. `credential` is keyring ciphertext; only the backup service decrypts it. */
export interface BackupPolicyRecord {
  id: string;
  name: string;
  selector: string;
  paths: string[];
  excludes: string[];
  tags: string[];
  schedule: string;
  repo: string;
  s3Endpoint: string | null;
  retention: Retention | null;
  prune: boolean;
  drillSchedule: string | null;
  drillSample: number;
  maxAgeMs: number;
  maxAgeDefault: boolean;
  credential: string;
  credentialKind: 'password' | 'key-file';
  credentialVersion: number;
  s3Keys: boolean;
  version: number;
  createdBy: string;
  createdAt: number;
  updatedBy: string;
  updatedAt: number;
}

function toPolicy(row: Selectable<BackupPoliciesTable>): BackupPolicyRecord {
  return {
    id: row.id,
    name: row.name,
    selector: row.selector,
    paths: parseJson<string[]>(row.paths, 'backup_policies.paths'),
    excludes: parseJson<string[]>(row.excludes, 'backup_policies.excludes'),
    tags: parseJson<string[]>(row.tags, 'backup_policies.tags'),
    schedule: row.schedule,
    repo: row.repo,
    s3Endpoint: row.s3_endpoint,
    retention: row.retention === null ? null : parseJson<Retention>(row.retention, 'backup_policies.retention'),
    prune: row.prune === 1,
    drillSchedule: row.drill_schedule,
    drillSample: row.drill_sample,
    maxAgeMs: row.max_age_ms,
    maxAgeDefault: row.max_age_default === 1,
    credential: row.credential,
    credentialKind: row.credential_kind === 'key-file' ? 'key-file' : 'password',
    credentialVersion: row.credential_version,
    s3Keys: row.s3_keys === 1,
    version: row.version,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedBy: row.updated_by,
    updatedAt: row.updated_at,
  };
}

function toRow(rec: BackupPolicyRecord): BackupPoliciesTable {
  return {
    id: rec.id,
    name: rec.name,
    selector: rec.selector,
    paths: JSON.stringify(rec.paths),
    excludes: JSON.stringify(rec.excludes),
    tags: JSON.stringify(rec.tags),
    schedule: rec.schedule,
    repo: rec.repo,
    s3_endpoint: rec.s3Endpoint,
    retention: rec.retention === null ? null : JSON.stringify(rec.retention),
    prune: rec.prune ? 1 : 0,
    drill_schedule: rec.drillSchedule,
    drill_sample: rec.drillSample,
    max_age_ms: rec.maxAgeMs,
    max_age_default: rec.maxAgeDefault ? 1 : 0,
    credential: rec.credential,
    credential_kind: rec.credentialKind,
    credential_version: rec.credentialVersion,
    s3_keys: rec.s3Keys ? 1 : 0,
    version: rec.version,
    created_by: rec.createdBy,
    created_at: rec.createdAt,
    updated_by: rec.updatedBy,
    updated_at: rec.updatedAt,
  };
}

export async function insertPolicy(db: Kysely<Database>, rec: BackupPolicyRecord): Promise<void> {
  await db.insertInto('backup_policies').values(toRow(rec)).execute();
}

/**
 * Replaces a policy if it is still at `expectedVersion` (a compare-and-set, so
 * two concurrent updates never lose one silently); false when it moved on.
 */
export async function replacePolicy(db: Kysely<Database>, rec: BackupPolicyRecord, expectedVersion: number): Promise<boolean> {
  const { id: _id, created_by: _by, created_at: _at, ...values } = toRow(rec);
  const result = await db.updateTable('backup_policies').set(values).where('id', '=', rec.id).where('version', '=', expectedVersion).executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function getPolicyByName(db: Kysely<Database>, name: string): Promise<BackupPolicyRecord | undefined> {
  const row = await db.selectFrom('backup_policies').selectAll().where('name', '=', name).executeTakeFirst();
  return row && toPolicy(row);
}

/** Every policy, oldest first (a node matching too many gets the oldest). */
export async function listPolicies(db: Kysely<Database>): Promise<BackupPolicyRecord[]> {
  const rows = await db.selectFrom('backup_policies').selectAll().orderBy('created_at').orderBy('id').execute();
  return rows.map(toPolicy);
}

export async function countPolicies(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('backup_policies')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Removes a policy and its per-node status (its runs and drills stay as history). */
export async function deletePolicy(db: Kysely<Database>, id: string): Promise<boolean> {
  return withTransaction(db, async (trx) => {
    const result = await trx.deleteFrom('backup_policies').where('id', '=', id).executeTakeFirst();
    await trx.deleteFrom('backup_status').where('policy_id', '=', id).execute();
    return Number(result.numDeletedRows) === 1;
  });
}
