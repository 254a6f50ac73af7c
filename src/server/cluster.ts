import type { Clock } from '../core/clock.js';
import { BulwarkError } from '../core/errors.js';
import type { RecordCipher } from '../keyring/record-cipher.js';
import { createRootCa, type CaMaterial } from '../pki/ca.js';
import { caPin } from '../pki/pin.js';
import type { Store } from '../store/open.js';
import { getClusterState, setClusterStateIfAbsent } from '../store/cluster-state.js';

const CA_LIFETIME_MS = 10 * 365 * 86_400_000;
const CA_KEY = 'pki.ca';
const NAME_KEY = 'cluster.name';

export interface ClusterIdentity {
  clusterName: string;
  ca: CaMaterial;
  caPin: string;
  /** true when this call created the cluster. */
  created: boolean;
}

/** Binds the encrypted CA key to its row. */
const caKeyBinding = { table: 'cluster_state', id: CA_KEY, version: 1 } as const;

/**
 * Loads the cluster's name and CA, creating them on first start. The CA private
 * key is stored only as keyring ciphertext. Two replicas starting together on an
 * empty PostgreSQL agree on one CA: the insert that loses is discarded and both
 * read back the winner.
 */
export async function loadOrCreateCluster(store: Store, cipher: RecordCipher, clock: Clock, wantedName: string): Promise<ClusterIdentity> {
  await setClusterStateIfAbsent(store.db, NAME_KEY, wantedName, clock.now());
  const clusterName = (await getClusterState(store.db, NAME_KEY)) ?? wantedName;
  let created = false;
  if ((await getClusterState(store.db, CA_KEY)) === undefined) {
    const now = clock.now();
    const ca = await createRootCa({ clusterName, notBefore: now - 60_000, notAfter: now + CA_LIFETIME_MS });
    const stored = JSON.stringify({
      certPem: ca.certPem,
      sealedKey: await cipher.encrypt(Buffer.from(ca.keyPem), caKeyBinding),
    });
    created = await setClusterStateIfAbsent(store.db, CA_KEY, stored, now);
  }
  const raw = await getClusterState(store.db, CA_KEY);
  if (raw === undefined) throw new BulwarkError('INTERNAL', 'the cluster CA could not be stored');
  const { certPem, sealedKey } = JSON.parse(raw) as { certPem: string; sealedKey: string };
  const keyPem = (await cipher.decrypt(sealedKey, caKeyBinding)).toString('utf8');
  return { clusterName, ca: { certPem, keyPem }, caPin: caPin(certPem), created };
}
