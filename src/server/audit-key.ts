import type { Clock } from '../core/clock.js';
import { BulwarkError } from '../core/errors.js';
import { auditKeyId, auditPublicKeyPem, generateAuditKey, type AuditKey } from '../auditlog/checkpoint.js';
import type { RecordCipher } from '../keyring/record-cipher.js';
import type { Store } from '../store/open.js';
import { getClusterState, setClusterStateIfAbsent } from '../store/cluster-state.js';

export const AUDIT_KEY_STATE = 'audit.key';

/** Binds the encrypted audit key to its row. */
const auditKeyBinding = { table: 'cluster_state', id: AUDIT_KEY_STATE, version: 1 } as const;

interface StoredAuditKey {
  publicKeyPem: string;
  keyId: string;
  sealedKey: string;
}

/**
 * Loads the cluster's Ed25519 audit signing key, creating it on first start.
 * The private key is stored only as keyring ciphertext; the public key and its
 * id are stored in the clear so the log can be verified with the database
 * alone. Replicas starting together agree on one key: the insert that loses is
 * discarded and both read back the winner.
 */
export async function loadOrCreateAuditKey(store: Store, cipher: RecordCipher, clock: Clock): Promise<AuditKey> {
  if ((await getClusterState(store.db, AUDIT_KEY_STATE)) === undefined) {
    const key = generateAuditKey();
    const stored: StoredAuditKey = {
      publicKeyPem: key.publicKeyPem,
      keyId: key.keyId,
      sealedKey: await cipher.encrypt(Buffer.from(key.privateKeyPem), auditKeyBinding),
    };
    await setClusterStateIfAbsent(store.db, AUDIT_KEY_STATE, JSON.stringify(stored), clock.now());
  }
  const raw = await getClusterState(store.db, AUDIT_KEY_STATE);
  if (raw === undefined) throw new BulwarkError('INTERNAL', 'the audit signing key could not be stored');
  const { publicKeyPem, keyId, sealedKey } = JSON.parse(raw) as StoredAuditKey;
  const privateKeyPem = (await cipher.decrypt(sealedKey, auditKeyBinding)).toString('utf8');
  // The clear public half is what verifiers trust: it must be the sealed key's own.
  if (auditPublicKeyPem(privateKeyPem) !== publicKeyPem || auditKeyId(publicKeyPem) !== keyId) {
    throw new BulwarkError('DECRYPT_FAILED', 'the stored audit public key does not belong to the sealed audit private key');
  }
  return { privateKeyPem, publicKeyPem, keyId };
}

/** The public half and its id, as stored in the clear (offline verification without the master key). */
export async function loadAuditPublicKey(store: Store): Promise<{ publicKeyPem: string; keyId: string }> {
  const raw = await getClusterState(store.db, AUDIT_KEY_STATE);
  if (raw === undefined) throw new BulwarkError('NOT_INITIALISED', 'no audit log key in this database');
  const { publicKeyPem, keyId } = JSON.parse(raw) as StoredAuditKey;
  if (auditKeyId(publicKeyPem) !== keyId) throw new BulwarkError('DECRYPT_FAILED', 'the stored audit public key does not match its key id');
  return { publicKeyPem, keyId };
}
