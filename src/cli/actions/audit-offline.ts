import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../../core/clock.js';
import { BulwarkError } from '../../core/errors.js';
import { silentLogger } from '../../core/logger.js';
import { loadMasterKey } from '../../keyring/master-key-file.js';
import { MasterKeyKeyring } from '../../keyring/master-key-keyring.js';
import { getClusterState } from '../../store/cluster-state.js';
import { openStore } from '../../store/open.js';
import { AUDIT_KEY_STATE, loadAuditPublicKey, loadOrCreateAuditKey } from '../../server/audit-key.js';
import { offlineCipher } from '../../server/key-service.js';
import { AuditLogService } from '../../server/audit-log-service.js';
import { MASTER_KEY_FILE } from '../../server/server.js';
import type { VerifyResult } from '../../auditlog/verify.js';

/**
 * Verifies the audit log straight from the database, without a running server:
 * what an operator needs when the log itself is damaged (a server then refuses
 * every request, since nothing can be audited) or the control plane is gone.
 */
export async function verifyAuditOffline(flags: { dataDir: string; db?: string }): Promise<VerifyResult & { keyId: string }> {
  const sqlitePath = join(flags.dataDir, 'bulwark.db');
  // Verifying must not create anything: a wrong directory is an error, not a new empty database.
  if (flags.db === undefined && !existsSync(sqlitePath)) {
    throw new BulwarkError('NOT_INITIALISED', `no database at ${sqlitePath}; give the server's --data-dir (or --db postgres://…)`);
  }
  const store = await openStore({ url: flags.db ?? sqlitePath });
  try {
    if ((await getClusterState(store.db, AUDIT_KEY_STATE)) === undefined) {
      throw new BulwarkError('NOT_INITIALISED', `no audit log key in this database; is ${flags.db ?? flags.dataDir} the server's?`);
    }
    const keyFile = join(flags.dataDir, MASTER_KEY_FILE);
    // With the key file the stored public key is checked against the encrypted private key; a cluster
    // unlocked by passphrase or shares is verified against the stored public key alone.
    const key = existsSync(keyFile)
      ? await loadOrCreateAuditKey(store, await offlineCipher(store, new MasterKeyKeyring(await loadMasterKey(keyFile))), systemClock)
      : { ...(await loadAuditPublicKey(store)), privateKeyPem: '' };
    const service = new AuditLogService({ store, clock: systemClock, log: silentLogger, key });
    try {
      return { ...(await service.verify()), keyId: key.keyId };
    } finally {
      await service.close();
    }
  } finally {
    await store.close();
  }
}
