import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { createRootCa } from './ca.js';
import { caPin, parsePin, pinMatches } from './pin.js';

const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;
const caPromise = createRootCa({ clusterName: 'prod', notBefore: T0, notAfter: T0 + DAY });

test('the pin is sha256 of the SubjectPublicKeyInfo, stable, and matches PEM and DER', async () => {
  const ca = await caPromise;
  const pin = caPin(ca.certPem);
  const cert = new X509Certificate(ca.certPem);
  const expected = createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
  assert.equal(pin, `sha256:${expected}`);
  assert.equal(caPin(ca.certPem), pin);
  assert.equal(caPin(cert.raw), pin);
  assert.equal(pinMatches(pin, ca.certPem), true);
  assert.equal(pinMatches(pin, new Uint8Array(cert.raw)), true);
  assert.equal(pinMatches(pin.toUpperCase().replace('SHA256', 'sha256'), ca.certPem), true);
});

test('the pin of another CA does not match', async () => {
  const ca = await caPromise;
  const other = await createRootCa({ clusterName: 'prod', notBefore: T0, notAfter: T0 + DAY });
  assert.equal(pinMatches(caPin(other.certPem), ca.certPem), false);
  assert.equal(pinMatches(caPin(ca.certPem), 'not a certificate'), false);
});

test('parsePin accepts sha256:<64 hex> in any case and returns it lower-case', () => {
  const hex = 'ab'.repeat(32);
  assert.equal(parsePin(`sha256:${hex}`), `sha256:${hex}`);
  assert.equal(parsePin(`SHA256:${hex.toUpperCase()}`), `sha256:${hex}`);
  assert.equal(parsePin(`  sha256:${hex}\n`), `sha256:${hex}`);
});

test('parsePin refuses anything else and says the expected form', () => {
  const hex = 'ab'.repeat(32);
  for (const bad of ['', hex, `sha1:${hex}`, `sha256:${hex.slice(2)}`, `sha256:${hex}00`, `sha256:${'zz'.repeat(32)}`, `sha256: ${hex}`]) {
    assert.throws(() => parsePin(bad), { code: 'INVALID_PIN', message: /sha256:<64 hex digits>/ }, bad);
  }
});

test('pinMatches with a malformed pin is INVALID_PIN, not a mismatch', async () => {
  const ca = await caPromise;
  assert.throws(() => pinMatches('sha256:abc', ca.certPem), { code: 'INVALID_PIN' });
});
