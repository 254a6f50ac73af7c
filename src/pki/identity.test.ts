import { test } from 'node:test';
import assert from 'node:assert/strict';
import { certificateInfo, nodeSpiffeId, parseNodeSpiffeId, subjectAltNames } from './identity.js';
import { createRootCa } from './ca.js';
import { createCsr } from './csr.js';
import { issueNodeCertificate } from './issue.js';

const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

test('SPIFFE ids round-trip', () => {
  const uri = nodeSpiffeId('prod', 'node_k3v2');
  assert.equal(uri, 'spiffe://prod/node/node_k3v2');
  assert.deepEqual(parseNodeSpiffeId(uri), { clusterName: 'prod', nodeId: 'node_k3v2' });
});

test('names that cannot be SPIFFE ids are refused', () => {
  assert.throws(() => nodeSpiffeId('Prod', 'n'), { code: 'BAD_REQUEST' });
  assert.throws(() => nodeSpiffeId('prod', 'a/b'), { code: 'BAD_REQUEST' });
  assert.throws(() => nodeSpiffeId('prod', '..'), { code: 'BAD_REQUEST' });
  for (const bad of ['spiffe://prod/node/', 'spiffe://prod/node/a/b', 'spiffe://prod/user/a', 'https://prod/node/a', 'spiffe://prod/node/a?x', 'spiffe:///node/a']) {
    assert.equal(parseNodeSpiffeId(bad), undefined, bad);
  }
});

test('certificateInfo reads serial, validity, URIs, fingerprint and subject', async () => {
  const ca = await createRootCa({ clusterName: 'prod', notBefore: T0 - DAY, notAfter: T0 + 365 * DAY });
  const { csrPem } = await createCsr({ commonName: 'x' });
  const issued = await issueNodeCertificate(ca, { csrPem, clusterName: 'prod', nodeId: 'node_1', notBefore: T0 + 1234, notAfter: T0 + DAY });
  const info = certificateInfo(issued.certPem);
  assert.deepEqual(info, {
    serial: issued.serial,
    notBefore: T0 + 1000,
    notAfter: T0 + DAY,
    uris: ['spiffe://prod/node/node_1'],
    fingerprint: issued.fingerprint,
    subject: 'CN=node_1',
  });
  assert.equal(issued.notBefore, T0 + 1000);
  assert.throws(() => certificateInfo('junk'), { code: 'BAD_REQUEST' });
});

test('subjectAltNames honours the quoting Node applies to values with separators', () => {
  assert.deepEqual(subjectAltNames('URI:"spiffe://a/node/x, URI:spiffe://b/node/y", DNS:ok'), [
    { type: 'URI', value: 'spiffe://a/node/x, URI:spiffe://b/node/y' },
    { type: 'DNS', value: 'ok' },
  ]);
  assert.deepEqual(subjectAltNames('DNS:a, IP Address:127.0.0.1, URI:spiffe://p/node/n'), [
    { type: 'DNS', value: 'a' },
    { type: 'IP Address', value: '127.0.0.1' },
    { type: 'URI', value: 'spiffe://p/node/n' },
  ]);
  assert.deepEqual(subjectAltNames(undefined), []);
});
