import { z } from 'zod';
import { canonicalJson } from '../core/canonical-json.js';
import { BulwarkError } from '../core/errors.js';
import { matchesSelector, type Labels, type Selector } from '../core/labels.js';
import { fleetNodeKey, fleetNodeLocation } from '../backup/fleet-keys.js';
import { BACKUP_LIMITS, RepoCredentialSchema, S3CredentialsSchema, type BackupPolicies, type PolicyItem, type RepoCredential, type S3Credentials } from '../protocol/backup.js';
import type { BackupPolicyRecord } from '../store/backup-policies.js';

/**
 * What is encrypted in a policy's one credential column: the policy's
 * credential, the root of its node keys derived from it (base64; absent in
 * policies stored before node keys), and for S3 the access keys.
 */
export interface PolicySecret {
  credential: RepoCredential;
  root?: string;
  s3?: S3Credentials;
}

const PolicySecretSchema = z.strictObject({
  credential: RepoCredentialSchema,
  root: z.string().regex(/^[A-Za-z0-9+/]{43}=$/).optional(),
  s3: S3CredentialsSchema.optional(),
});

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

/** A policy as every node of it receives it, but for where its repository is and what opens it: those are the node's own. */
export type PolicyBase = Omit<PolicyItem, 'credential'>;

/** The settings of a policy its nodes receive; S3 access keys are the policy's, shared by its nodes. */
export function policyBase(record: BackupPolicyRecord, s3: S3Credentials | undefined): PolicyBase {
  return {
    name: record.name,
    version: record.version,
    paths: record.paths,
    excludes: record.excludes,
    tags: record.tags,
    schedule: record.schedule,
    repo: record.repo,
    ...(record.s3Endpoint === null ? {} : { s3Endpoint: record.s3Endpoint }),
    ...(s3 === undefined ? {} : { s3 }),
    ...(record.retention === null ? {} : { retention: record.retention }),
    prune: record.prune,
    ...(record.drillSchedule === null ? {} : { drillSchedule: record.drillSchedule }),
    drillSample: record.drillSample,
  };
}

/** Where one node's repository of a policy is and the key file that opens it (src/backup/fleet-keys.ts). */
export function nodeRepository(policy: Pick<ManifestPolicy, 'base' | 'root'>, nodeId: string): Pick<PolicyItem, 'repo' | 'credential'> {
  const key = fleetNodeKey(policy.root, nodeId);
  try {
    return { repo: fleetNodeLocation(policy.base.repo, policy.root, nodeId), credential: { kind: 'key-file', keyFile: key.toString('base64') } };
  } finally {
    key.fill(0);
  }
}

export interface ManifestPolicy {
  selector: Selector;
  base: PolicyBase;
  /** The policy's fleet root key: every node key of the policy is derived from it. */
  root: Buffer;
}

/**
 * The `backup_policies` message of a node (`host` is its id): the policies
 * (oldest first) whose selector matches its labels, at most
 * `maxPoliciesPerNode`, each pointing at the node's own repository with the
 * node's own key; `dropped` counts the ones left out.
 */
export function buildBackupManifest(host: string, labels: Labels, policies: readonly ManifestPolicy[]): { message: BackupPolicies; dropped: number } {
  const matching = policies.filter((p) => matchesSelector(p.selector, labels));
  const kept = matching.slice(0, BACKUP_LIMITS.maxPoliciesPerNode).map((p): PolicyItem => ({ ...p.base, ...nodeRepository(p, host) }));
  return { message: { type: 'backup_policies', host, policies: kept }, dropped: matching.length - kept.length };
}
