import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import { auditKeyId, checkpointMessage, generateAuditKey, signCheckpoint, verifyCheckpoint } from './checkpoint.js';

describe('checkpoints', () => {
  const key = generateAuditKey();
  const cp = { seq: 100, hash: 'ab'.repeat(32) };

  it('makes an Ed25519 key whose id is the first 16 hex of SHA-256 of the raw public key', () => {
    const raw = createPublicKey(key.publicKeyPem).export({ format: 'der', type: 'spki' }).subarray(-32);
    assert.equal(key.keyId, createHash('sha256').update(raw).digest('hex').slice(0, 16));
    assert.equal(auditKeyId(key.publicKeyPem), key.keyId);
    assert.match(key.privateKeyPem, /BEGIN PRIVATE KEY/);
  });

  it('signs a domain-separated message that verifies only for the same seq, hash and key', () => {
    assert.equal(checkpointMessage(cp).toString(), `bulwark-audit-checkpoint-v1\n100\n${cp.hash}`);
    const signature = signCheckpoint(key.privateKeyPem, cp);
    assert.equal(verifyCheckpoint(key.publicKeyPem, { ...cp, signature }), true);
    assert.equal(verifyCheckpoint(key.publicKeyPem, { ...cp, seq: 101, signature }), false);
    assert.equal(verifyCheckpoint(key.publicKeyPem, { ...cp, hash: 'cd'.repeat(32), signature }), false);
    assert.equal(verifyCheckpoint(generateAuditKey().publicKeyPem, { ...cp, signature }), false);
  });

  it('refuses malformed signatures without throwing', () => {
    for (const signature of ['', 'not base64', 'A'.repeat(86) + '==', Buffer.alloc(63).toString('base64')]) {
      assert.equal(verifyCheckpoint(key.publicKeyPem, { ...cp, signature }), false, signature);
    }
  });
});
