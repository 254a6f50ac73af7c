import { sql } from 'kysely';
import type { Clock } from '../core/clock.js';
import { BulwarkError } from '../core/errors.js';
import type { RecordCipher } from '../keyring/record-cipher.js';
import { generateSshCa, parseSshPublicKey, sshCaPublicKeyFromPrivate } from '../pki/ssh-keys.js';
import type { Store } from '../store/open.js';
import { getClusterState, setClusterStateIfAbsent } from '../store/cluster-state.js';

const SSH_CA_KEY = 'ssh.user_ca';
const SSH_SERIAL_KEY = 'ssh.user_ca.serial';

/** Binds the encrypted SSH CA key to its row, so a ciphertext moved to another row fails to open. */
const sshCaKeyBinding = { table: 'cluster_state', id: SSH_CA_KEY, version: 1 } as const;

export interface SshCaMaterial {
  /** `ssh-ed25519 AAAA… bulwark-user-ca`, for sshd's `TrustedUserCAKeys`. */
  publicKey: string;
  /** PKCS#8 PEM; only ever in memory, stored sealed by the keyring. */
  privateKeyPem: string;
  /** `SHA256:…`, as `ssh-keygen -l -f ca.pub` prints it. */
  fingerprint: string;
  /** true when this call created the CA. */
  created: boolean;
}

/**
 * Loads the cluster's SSH user CA, creating it on first use. Stored as the X.509
 * CA is (src/server/cluster.ts): public key in clear, private key only as keyring
 * ciphertext. Replicas starting together on an empty PostgreSQL agree on one CA:
 * the losing insert is discarded and every replica reads back the winner.
 */
export async function loadOrCreateSshCa(store: Store, cipher: RecordCipher, clock: Clock): Promise<SshCaMaterial> {
  let created = false;
  if ((await getClusterState(store.db, SSH_CA_KEY)) === undefined) {
    const ca = generateSshCa();
    const stored = JSON.stringify({
      publicKey: ca.publicKey,
      sealedKey: await cipher.encrypt(Buffer.from(ca.privateKeyPem), sshCaKeyBinding),
    });
    created = await setClusterStateIfAbsent(store.db, SSH_CA_KEY, stored, clock.now());
  }
  const raw = await getClusterState(store.db, SSH_CA_KEY);
  if (raw === undefined) throw new BulwarkError('INTERNAL', 'the SSH CA could not be stored');
  let publicKey: unknown;
  let sealedKey: unknown;
  try {
    ({ publicKey, sealedKey } = JSON.parse(raw) as Record<string, unknown>);
  } catch {
    publicKey = undefined;
  }
  if (typeof publicKey !== 'string' || typeof sealedKey !== 'string') {
    throw new BulwarkError('KEY_FILE_INVALID', `cluster_state ${SSH_CA_KEY} is corrupted`);
  }
  const privateKeyPem = (await cipher.decrypt(sealedKey, sshCaKeyBinding)).toString('utf8');
  // A stored public key that is not the private key's would make every certificate
  // fail at sshd, far from the cause; say so here instead.
  const parsed = parseSshPublicKey(publicKey);
  if (!parseSshPublicKey(sshCaPublicKeyFromPrivate(privateKeyPem)).blob.equals(parsed.blob)) {
    throw new BulwarkError('KEY_FILE_INVALID', `cluster_state ${SSH_CA_KEY}: the public key does not belong to the sealed private key`);
  }
  return { publicKey, privateKeyPem, fingerprint: parsed.fingerprint, created };
}

/**
 * The next SSH certificate serial: 1, 2, 3, … for the whole cluster.
 *
 * A counter rather than random serials because ordered serials read naturally in
 * the audit log and let a KRL revoke ranges (`serial: 100-200`). One UPDATE …
 * RETURNING is atomic on SQLite and PostgreSQL alike (the row is locked for the
 * statement), so replicas signing at once never hand out the same serial.
 */
export async function nextSshSerial(store: Store, clock: Clock): Promise<bigint> {
  const now = clock.now();
  await setClusterStateIfAbsent(store.db, SSH_SERIAL_KEY, '0', now);
  const row = await store.db
    .updateTable('cluster_state')
    .set({ value: sql<string>`CAST(CAST(value AS BIGINT) + 1 AS TEXT)`, updated_at: now })
    .where('key', '=', SSH_SERIAL_KEY)
    .returning('value')
    .executeTakeFirst();
  if (row === undefined || !/^[1-9][0-9]*$/.test(row.value)) {
    throw new BulwarkError('INTERNAL', `cluster_state ${SSH_SERIAL_KEY} holds no serial counter`);
  }
  return BigInt(row.value);
}
