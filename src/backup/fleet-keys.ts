import { createHash, hkdfSync } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';
import { DEFAULT_SCRYPT_COST, scryptKey, type Credential } from './key-file.js';

/*
 * Fleet backups give every node its own repository and its own key, so a node
 * that is broken into can read, forge or remove only its own backups (see
 * docs/backup.md, "Who trusts whom"). Both are derived, not stored: from the
 * policy's credential (which only the server and the operator hold) and the
 * node's id, so the operator can open any node's repository with nothing but
 * the storage and that credential (`bulwark backup … --fleet-node ID`), even
 * without the control plane.
 *
 *   root     = scrypt(password, salt)  or  HKDF-SHA-256(key file, salt, "bulwark-fleet-backup-v1:root")
 *   salt     = SHA-256("bulwark-fleet-backup-v1:salt\0" ‖ policy repository location)
 *   node key = HKDF-SHA-256(root, no salt, "bulwark-fleet-backup-v1:node\0" ‖ node id), 32 bytes,
 *              used as the node repository's key file
 *   location = policy repository location + "/" + node id
 *
 * One-way throughout: a node key gives neither the root nor another node's
 * key, and guessing a password from a node key costs one scrypt per guess, as
 * guessing it from a repository key file does.
 */

const SALT_LABEL = 'bulwark-fleet-backup-v1:salt\0';
const ROOT_INFO = 'bulwark-fleet-backup-v1:root';
const NODE_INFO = 'bulwark-fleet-backup-v1:node\0';
/** The ids the server gives nodes (`node_` + base32), and anything else that is safe as one path component. */
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function checkNodeId(nodeId: string): void {
  if (!NODE_ID.test(nodeId) || nodeId.includes('..')) {
    throw new BulwarkError('BAD_REQUEST', `${JSON.stringify(nodeId.slice(0, 64))} is not a node id (e.g. node_k3v…; \`bulwark backup status --json\` lists them)`);
  }
}

/** The secret every node key of a policy comes from; the caller wipes it. `repo` is the policy's canonical location. */
export async function fleetRootKey(credential: Credential, repo: string): Promise<Buffer> {
  const salt = createHash('sha256').update(SALT_LABEL).update(repo, 'utf8').digest();
  if (credential.kind === 'password') return scryptKey(credential.password, salt, DEFAULT_SCRYPT_COST);
  return Buffer.from(hkdfSync('sha256', credential.bytes, salt, ROOT_INFO, 32));
}

/** The key file bytes that open one node's repository. */
export function fleetNodeKey(root: Buffer, nodeId: string): Buffer {
  checkNodeId(nodeId);
  return Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), Buffer.from(NODE_INFO + nodeId, 'utf8'), 32));
}

/** Where one node's repository lives: a directory (or S3 prefix) named by its id under the policy's location. */
export function fleetNodeLocation(repo: string, nodeId: string): string {
  checkNodeId(nodeId);
  return `${repo.replace(/\/+$/, '')}/${nodeId}`;
}
