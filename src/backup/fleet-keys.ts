import { createHash, createHmac, hkdfSync } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';
import { scryptKey, type Credential, type ScryptCost } from './key-file.js';

/*
 * Fleet backups give every node its own repository and its own key, so a node
 * that is broken into can decrypt or forge only its own backups (it can still
 * delete others' files through storage they share; see docs/backup.md, "Node
 * keys" and "Who trusts whom"). Both come from the policy's root key, which
 * the server derives once from the policy's credential (and keeps sealed by
 * its keyring), and the node's id, so the operator can open any node's
 * repository with nothing but the storage, the policy's name and its
 * credential (`bulwark backup … --fleet-policy NAME --fleet-node ID`), even
 * without the control plane:
 *
 *   salt     = SHA-256("bulwark-fleet-backup-v1:salt" ‖ 0x00 ‖ policy name)
 *   root     = scrypt(NFC(password), salt, N=2^16, r=8, p=4)  or  HKDF-SHA-256(key file, salt, "bulwark-fleet-backup-v1:root")
 *   node key = HKDF-SHA-256(root, no salt, "bulwark-fleet-backup-v1:node" ‖ 0x00 ‖ node id), 32 bytes: the key file of the node's repository
 *   epoch    = the first 16 hex digits of HMAC-SHA-256(root, "bulwark-fleet-backup-v1:epoch")
 *   location = the policy's repository location + "/" + node id + "/" + epoch
 *
 * One-way throughout: a node key gives neither the root nor another node's
 * key. A new credential gives a new root, so new node keys *and* new
 * repositories (the epoch): nodes start afresh instead of failing on a
 * repository their new key cannot open, and the old ones stay readable with
 * the old credential. The salt names the policy, not where its storage is
 * mounted, so a recovery host may mount it anywhere.
 */

const SALT_LABEL = 'bulwark-fleet-backup-v1:salt\0';
const ROOT_INFO = 'bulwark-fleet-backup-v1:root';
const NODE_INFO = 'bulwark-fleet-backup-v1:node\0';
const EPOCH_INFO = 'bulwark-fleet-backup-v1:epoch';
/**
 * Fixed here, not taken from the repositories' default: changing it would
 * change every node key. Twice the work of a repository password key
 * (64 MiB, about a second here); it runs once per credential, when it is set.
 */
export const FLEET_ROOT_COST: ScryptCost = Object.freeze({ log2N: 16, r: 8, p: 4 });
/** The ids the server gives nodes: `node_` and lower-case base32 (src/core/ids.ts). */
const NODE_ID = /^node_[a-z2-7]{1,64}$/;

function checkNodeId(nodeId: string): void {
  if (!NODE_ID.test(nodeId)) {
    throw new BulwarkError('BAD_REQUEST', `${JSON.stringify(nodeId.slice(0, 64))} is not a node id (node_ and lower-case letters and digits 2–7; \`bulwark backup status --json\` lists them)`);
  }
}

function checkRoot(root: Buffer): void {
  // A wiped (all-zero) root would derive keys anyone can compute: refuse it rather than hand one out.
  if (root.length !== 32 || root.every((b) => b === 0)) throw new BulwarkError('INTERNAL', 'a fleet backup root key is missing or was wiped');
}

/** The secret every node key of a policy comes from; the caller wipes it. */
export async function fleetRootKey(credential: Credential, policyName: string): Promise<Buffer> {
  const salt = createHash('sha256').update(SALT_LABEL).update(policyName, 'utf8').digest();
  if (credential.kind === 'password') return scryptKey(credential.password, salt, FLEET_ROOT_COST);
  return Buffer.from(hkdfSync('sha256', credential.bytes, salt, ROOT_INFO, 32));
}

/** The key file bytes that open one node's repository. */
export function fleetNodeKey(root: Buffer, nodeId: string): Buffer {
  checkRoot(root);
  checkNodeId(nodeId);
  return Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), Buffer.from(NODE_INFO + nodeId, 'utf8'), 32));
}

/** Where one node's repository lives: `<policy location>/<node id>/<epoch of the root>`. */
export function fleetNodeLocation(repo: string, root: Buffer, nodeId: string): string {
  checkRoot(root);
  checkNodeId(nodeId);
  const epoch = createHmac('sha256', root).update(EPOCH_INFO).digest('hex').slice(0, 16);
  return `${repo.replace(/\/+$/, '')}/${nodeId}/${epoch}`;
}

/** Characters a node's location adds to its policy's: "/", the longest node id, "/", the epoch. */
export const FLEET_LOCATION_SUFFIX_MAX = 1 + 'node_'.length + 64 + 1 + 16;
