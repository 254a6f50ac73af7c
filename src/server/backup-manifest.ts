import { z } from 'zod';
import { canonicalJson } from '../core/canonical-json.js';
import { BulwarkError } from '../core/errors.js';
import { matchesSelector, type Labels, type Selector } from '../core/labels.js';
import { BACKUP_LIMITS, RepoCredentialSchema, S3CredentialsSchema, type BackupPolicies, type PolicyItem, type RepoCredential, type S3Credentials } from '../protocol/backup.js';
import type { BackupPolicyRecord } from '../store/backup-policies.js';

/** What is encrypted in a policy's one credential column: the repository credential and, for S3, the access keys. */
export interface PolicySecret {
  credential: RepoCredential;
  s3?: S3Credentials;
}

const PolicySecretSchema = z.strictObject({ credential: RepoCredentialSchema, s3: S3CredentialsSchema.optional() });

export function encodePolicySecret(secret: PolicySecret): Buffer {
  return Buffer.from(canonicalJson(secret), 'utf8');
}

export function decodePolicySecret(plain: Buffer): PolicySecret {
  let parsed: unknown;
  try {
    parsed = JSON.parse(plain.toString('utf8'));
  } catch {
    throw new BulwarkError('INTERNAL', 'a stored backup credential is not valid JSON');
  }
  const checked = PolicySecretSchema.safeParse(parsed);
  if (!checked.success) throw new BulwarkError('INTERNAL', 'a stored backup credential is malformed');
  return checked.data;
}

/** One policy as its nodes receive it. */
export function policyItem(record: BackupPolicyRecord, secret: PolicySecret): PolicyItem {
  return {
    name: record.name,
    version: record.version,
    paths: record.paths,
    excludes: record.excludes,
    tags: record.tags,
    schedule: record.schedule,
    repo: record.repo,
    ...(record.s3Endpoint === null ? {} : { s3Endpoint: record.s3Endpoint }),
    credential: secret.credential,
    ...(secret.s3 === undefined ? {} : { s3: secret.s3 }),
    ...(record.retention === null ? {} : { retention: record.retention }),
    prune: record.prune,
    ...(record.drillSchedule === null ? {} : { drillSchedule: record.drillSchedule }),
    drillSample: record.drillSample,
  };
}

export interface ManifestPolicy {
  selector: Selector;
  item: PolicyItem;
}

/**
 * The `backup_policies` message of a node: the policies (oldest first) whose
 * selector matches its labels, at most `maxPoliciesPerNode`; `dropped` counts
 * the ones left out.
 */
export function buildBackupManifest(host: string, labels: Labels, policies: readonly ManifestPolicy[]): { message: BackupPolicies; dropped: number } {
  const matching = policies.filter((p) => matchesSelector(p.selector, labels)).map((p) => p.item);
  const kept = matching.slice(0, BACKUP_LIMITS.maxPoliciesPerNode);
  return { message: { type: 'backup_policies', host, policies: kept }, dropped: matching.length - kept.length };
}
