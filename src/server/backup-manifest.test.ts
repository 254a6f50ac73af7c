import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSelector } from '../core/labels.js';
import { BACKUP_LIMITS, BackupPoliciesSchema } from '../protocol/backup.js';
import type { BackupPolicyRecord } from '../store/backup-policies.js';
import { fleetNodeKey, fleetNodeLocation } from '../backup/fleet-keys.js';
import { buildBackupManifest, decodePolicySecret, encodePolicySecret, policyBase, type ManifestPolicy } from './backup-manifest.js';

function record(over: Partial<BackupPolicyRecord> = {}): BackupPolicyRecord {
  return {
    id: 'bkp_a',
    name: 'db',
    selector: 'role=db',
    paths: ['/var/lib/app'],
    excludes: ['*.tmp'],
    tags: ['fleet'],
    schedule: '0 * * * *',
    repo: 's3://backups/db',
    s3Endpoint: 'http://minio:9000',
    retention: { daily: 7 },
    prune: true,
    drillSchedule: null,
    drillSample: 100,
    maxAgeMs: 7_200_000,
    maxAgeDefault: true,
    credential: 'bwe1.1.sealed',
    credentialKind: 'password',
    credentialVersion: 1,
    s3Keys: true,
    version: 3,
    createdBy: 'admin',
    createdAt: 1,
    updatedBy: 'admin',
    updatedAt: 2,
    ...over,
  };
}

const secret = { credential: { kind: 'password' as const, password: 'a long password' }, s3: { accessKeyId: 'AKIA', secretAccessKey: 'shh' } };

const root = Buffer.alloc(32, 9);

test('a policy carries what the agent needs and nothing of the server', () => {
  const base = policyBase(record(), secret.s3);
  assert.deepEqual(base, {
    name: 'db',
    version: 3,
    paths: ['/var/lib/app'],
    excludes: ['*.tmp'],
    tags: ['fleet'],
    schedule: '0 * * * *',
    repo: 's3://backups/db',
    s3Endpoint: 'http://minio:9000',
    s3: secret.s3,
    retention: { daily: 7 },
    prune: true,
    drillSample: 100,
  });
  const local = policyBase(record({ repo: '/mnt/db', s3Endpoint: null, retention: null, drillSchedule: '0 4 * * 0' }), undefined);
  assert.equal('s3' in local || 's3Endpoint' in local || 'retention' in local, false);
  assert.equal(local.drillSchedule, '0 4 * * 0');
});

test('each node gets its own repository and its own key, never the policy credential', () => {
  const policies: ManifestPolicy[] = [{ selector: parseSelector('role=db'), base: policyBase(record(), secret.s3), root }];
  const one = buildBackupManifest('node_aaaa', { role: 'db' }, policies).message.policies[0];
  const two = buildBackupManifest('node_bbbb', { role: 'db' }, policies).message.policies[0];
  assert.equal(one?.repo, fleetNodeLocation('s3://backups/db', root, 'node_aaaa'));
  assert.match(one?.repo ?? '', /^s3:\/\/backups\/db\/node_aaaa\/[0-9a-f]{16}$/);
  assert.equal(two?.repo, fleetNodeLocation('s3://backups/db', root, 'node_bbbb'));
  assert.deepEqual(one?.credential, { kind: 'key-file', keyFile: fleetNodeKey(root, 'node_aaaa').toString('base64') });
  assert.notDeepEqual(one?.credential, two?.credential);
  assert.equal(JSON.stringify([one, two]).includes(secret.credential.password), false);
  assert.equal(JSON.stringify([one, two]).includes(root.toString('base64')), false);
});

test('a node gets the policies whose selector matches its labels, oldest first, at most the limit', () => {
  const policies: ManifestPolicy[] = [
    { selector: parseSelector('role=db'), base: policyBase(record({ name: 'db' }), secret.s3), root },
    { selector: parseSelector('role in (db, web)'), base: policyBase(record({ name: 'etc' }), secret.s3), root },
    { selector: parseSelector('role=web'), base: policyBase(record({ name: 'web' }), secret.s3), root },
  ];
  const { message, dropped } = buildBackupManifest('node_dbone', { role: 'db' }, policies);
  assert.equal(dropped, 0);
  assert.equal(message.host, 'node_dbone');
  assert.deepEqual(
    message.policies.map((p) => p.name),
    ['db', 'etc'],
  );
  assert.equal(BackupPoliciesSchema.safeParse(message).success, true, 'what the server sends is what the agent accepts');
  assert.deepEqual(buildBackupManifest('node_x', { role: 'mail' }, policies).message.policies, [], 'nothing matches: an empty list, which stops every policy on the node');
  const many = Array.from({ length: BACKUP_LIMITS.maxPoliciesPerNode + 3 }, (_, i) => ({ selector: parseSelector('role=db'), base: policyBase(record({ name: `p${i}` }), secret.s3), root }));
  const capped = buildBackupManifest('node_dbone', { role: 'db' }, many);
  assert.equal(capped.message.policies.length, BACKUP_LIMITS.maxPoliciesPerNode);
  assert.equal(capped.dropped, 3);
  assert.equal(capped.message.policies[0]?.name, 'p0');
});

test('the stored secret round-trips and a malformed one is refused without quoting it', () => {
  assert.deepEqual(decodePolicySecret(encodePolicySecret(secret)), secret);
  const keyFile = { credential: { kind: 'key-file' as const, keyFile: Buffer.alloc(32, 7).toString('base64') } };
  assert.deepEqual(decodePolicySecret(encodePolicySecret(keyFile)), keyFile);
  assert.throws(() => decodePolicySecret(Buffer.from('{"credential":{"kind":"password"}}')), (err: Error) => /malformed/.test(err.message));
  assert.throws(() => decodePolicySecret(Buffer.from('hunter2 not json')), (err: Error) => /not valid JSON/.test(err.message) && !err.message.includes('hunter2'));
});
