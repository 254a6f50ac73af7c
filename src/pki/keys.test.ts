import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { generateKeyPair } from './keys.js';

test('generateKeyPair returns a P-256 PKCS#8 private key and its SPKI public key', async () => {
  const { keyPem, publicKeyPem } = await generateKeyPair();
  assert.match(keyPem, /^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
  assert.match(publicKeyPem, /^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n$/);
  const privateKey = createPrivateKey(keyPem);
  assert.equal(privateKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const signature = sign('sha256', Buffer.from('hello'), privateKey);
  assert.equal(verify('sha256', Buffer.from('hello'), createPublicKey(publicKeyPem), signature), true);
});
