import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../core/clock.js';
import { generateAuditKey, signCheckpoint, verifyCheckpoint } from '../auditlog/checkpoint.js';
import { ephemeralCipher } from '../keyring/record-cipher.js';
import { getClusterState, setClusterState } from '../store/cluster-state.js';
import { testDatabases } from '../store/test-databases.js';
import { AUDIT_KEY_STATE, loadOrCreateAuditKey } from './audit-key.js';

for (const tdb of testDatabases()) {
  describe(`audit signing key (${tdb.name})`, () => {
    it('is created once, sealed by the keyring, and loaded unchanged', async () => {
      const store = await tdb.open();
      const keyring = ephemeralCipher();
      try {
        const [a, b] = await Promise.all([loadOrCreateAuditKey(store, keyring, new ManualClock()), loadOrCreateAuditKey(store, keyring, new ManualClock())]);
        assert.deepEqual(a, b, 'concurrent starts agree on one key');
        const again = await loadOrCreateAuditKey(store, keyring, new ManualClock());
        assert.deepEqual(again, a);
        const raw = (await getClusterState(store.db, AUDIT_KEY_STATE)) ?? '';
        assert.ok(!raw.includes('PRIVATE KEY'), 'the private key is not stored in the clear');
        assert.ok(raw.includes(a.keyId));
        const signature = signCheckpoint(again.privateKeyPem, { seq: 1, hash: 'a'.repeat(64) });
        assert.ok(verifyCheckpoint(a.publicKeyPem, { seq: 1, hash: 'a'.repeat(64), signature }));
        await assert.rejects(loadOrCreateAuditKey(store, ephemeralCipher(), new ManualClock()), (err: unknown) => (err as { code?: string }).code === 'DECRYPT_FAILED');
      } finally {
        await store.close();
      }
    });

    it('refuses a stored public key that is not the sealed key’s own', async () => {
      const store = await tdb.open();
      const keyring = ephemeralCipher();
      try {
        await loadOrCreateAuditKey(store, keyring, new ManualClock());
        const other = generateAuditKey();
        const stored = JSON.parse((await getClusterState(store.db, AUDIT_KEY_STATE)) ?? '{}') as Record<string, string>;
        await setClusterState(store.db, AUDIT_KEY_STATE, JSON.stringify({ ...stored, publicKeyPem: other.publicKeyPem, keyId: other.keyId }), 0);
        await assert.rejects(loadOrCreateAuditKey(store, keyring, new ManualClock()), (err: unknown) => (err as { code?: string }).code === 'DECRYPT_FAILED');
      } finally {
        await store.close();
      }
    });
  });
}
