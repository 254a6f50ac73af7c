import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { ManualClock } from '../core/clock.js';
import { ephemeralCipher } from '../keyring/record-cipher.js';
import { parseSshCertificate, signSshUserCertificate } from '../pki/ssh-cert.js';
import { formatSshPublicKey, parseSshPublicKey } from '../pki/ssh-keys.js';
import { getClusterState, setClusterState } from '../store/cluster-state.js';
import { testDatabases } from '../store/test-databases.js';
import { loadOrCreateSshCa, nextSshSerial } from './ssh-ca.js';

for (const tdb of testDatabases()) {
  describe(`SSH CA on ${tdb.name}`, () => {
    it('is created once, sealed at rest, and loads back the same', async () => {
      const store = await tdb.open();
      try {
        const keyring = ephemeralCipher();
        const clock = new ManualClock();
        const first = await loadOrCreateSshCa(store, keyring, clock);
        assert.equal(first.created, true);
        assert.match(first.publicKey, /^ssh-ed25519 \S+ bulwark-user-ca$/);
        assert.equal(first.fingerprint, parseSshPublicKey(first.publicKey).fingerprint);
        const again = await loadOrCreateSshCa(store, keyring, clock);
        assert.equal(again.created, false);
        assert.equal(again.publicKey, first.publicKey);
        assert.equal(again.privateKeyPem, first.privateKeyPem);

        const raw = (await getClusterState(store.db, 'ssh.user_ca')) ?? '';
        const body = first.privateKeyPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
        assert.ok(!raw.includes('PRIVATE KEY') && !raw.includes(body.slice(8, 40)), 'the private key is not stored in clear');

        // The CA signs certificates that verify against the stored public key.
        const user = formatSshPublicKey(generateKeyPairSync('ed25519').publicKey);
        const cert = signSshUserCertificate({
          caPrivateKeyPem: again.privateKeyPem,
          caPublicKey: again.publicKey,
          publicKey: user,
          keyId: 'alice',
          principals: ['alice'],
          validAfter: clock.now(),
          validBefore: clock.now() + 60_000,
          serial: await nextSshSerial(store, clock),
        });
        assert.equal(parseSshCertificate(cert).caFingerprint, first.fingerprint);

        // Another master key cannot open it; a sealed key moved into this row cannot either.
        await assert.rejects(loadOrCreateSshCa(store, ephemeralCipher(), clock), { code: 'DECRYPT_FAILED' });
        const stored = JSON.parse(raw) as { publicKey: string; sealedKey: string };
        const foreign = await keyring.encrypt(Buffer.from(first.privateKeyPem), { table: 'cluster_state', id: 'pki.ca', version: 1 });
        await setClusterState(store.db, 'ssh.user_ca', JSON.stringify({ ...stored, sealedKey: foreign }), clock.now());
        await assert.rejects(loadOrCreateSshCa(store, keyring, clock), { code: 'DECRYPT_FAILED' });
        await setClusterState(store.db, 'ssh.user_ca', 'not json', clock.now());
        await assert.rejects(loadOrCreateSshCa(store, keyring, clock), { code: 'KEY_FILE_INVALID' });
      } finally {
        await store.close();
      }
    });

    it('two replicas creating at once agree on one CA', async () => {
      const store = await tdb.open();
      const twin = await tdb.openTwin(store);
      try {
        const keyring = ephemeralCipher();
        const clock = new ManualClock();
        const [a, b] = await Promise.all([loadOrCreateSshCa(store, keyring, clock), loadOrCreateSshCa(twin, keyring, clock)]);
        assert.equal(a.publicKey, b.publicKey);
        assert.equal(a.privateKeyPem, b.privateKeyPem);
        assert.equal([a.created, b.created].filter(Boolean).length, 1);
      } finally {
        await twin.close();
        await store.close();
      }
    });

    it('serials count up from 1 and never repeat across replicas', async () => {
      const store = await tdb.open();
      const twin = await tdb.openTwin(store);
      try {
        const clock = new ManualClock();
        assert.equal(await nextSshSerial(store, clock), 1n);
        assert.equal(await nextSshSerial(twin, clock), 2n);
        const many = await Promise.all(Array.from({ length: 40 }, (_, i) => nextSshSerial(i % 2 ? store : twin, clock)));
        const sorted = [...many].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
        assert.deepEqual(sorted, Array.from({ length: 40 }, (_, i) => BigInt(i + 3)));
      } finally {
        await twin.close();
        await store.close();
      }
    });
  });
}
