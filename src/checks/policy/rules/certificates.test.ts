import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRootCa } from '../../../pki/ca.js';
import { makeFixtureTree, removeFixtureTree } from '../../../host/fixture-tree.js';
import type { FixtureEntry } from '../../../host/fixture-tree.js';
import { CERTIFICATES_RULE, CertificatesRuleSchema } from './certificates.js';
import { fixtureContext } from './test-context.js';

const NOW = Date.UTC(2025, 0, 15);
const DAY = 86_400_000;

async function cert(name: string, daysLeft: number): Promise<string> {
  return (await createRootCa({ clusterName: name, notBefore: NOW - 30 * DAY, notAfter: NOW + daysLeft * DAY })).certPem;
}

async function evaluate(t: { after(fn: () => Promise<void>): void }, files: Record<string, FixtureEntry>, rule: unknown) {
  const root = await makeFixtureTree(files);
  t.after(() => removeFixtureTree(root));
  return CERTIFICATES_RULE.evaluate(CertificatesRuleSchema.parse(rule), fixtureContext(root, { now: NOW }));
}

test('certificates pass when all outlive the margin, naming the soonest', async (t) => {
  const files = {
    '/etc/ssl/local/web.pem': `${await cert('web', 200)}`,
    '/etc/ssl/local/sub/api.crt': `${await cert('api', 90)}`,
    '/etc/ssl/local/api.key': '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
  };
  assert.deepEqual(await evaluate(t, files, { certificates: { under: ['/etc/ssl/local'] }, min_days_left: 30 }), {
    result: true,
    evidence: '2 certificates, the soonest /etc/ssl/local/sub/api.crt: O=Bulwark, CN=Bulwark CA api expires 2025-04-15T00:00:00.000Z (90 days left)',
  });
});

test('certificates fail on one near expiry or expired, in a bundle or alone', async (t) => {
  const bundle = `${await cert('long', 400)}${await cert('soon', 10)}`;
  const files = { '/etc/ssl/local/bundle.pem': bundle, '/srv/tls/old.cert': await cert('old', -3) };
  assert.deepEqual(await evaluate(t, files, { certificates: { under: ['/etc/ssl/local'], files: ['/srv/tls/old.cert'] }, min_days_left: 30 }), {
    result: false,
    evidence:
      '2 of 3 certificates: /srv/tls/old.cert: O=Bulwark, CN=Bulwark CA old expired 2025-01-12T00:00:00.000Z, ' +
      '/etc/ssl/local/bundle.pem: O=Bulwark, CN=Bulwark CA soon expires 2025-01-25T00:00:00.000Z (10 days left)',
  });
});

test('a link and its target count once; a broken PEM block fails', async (t) => {
  const pem = await cert('le', 60);
  const linked = { '/etc/le/archive/cert1.pem': pem, '/etc/le/live/cert.pem': { link: '/etc/le/archive/cert1.pem' } };
  assert.equal((await evaluate(t, linked, { certificates: { under: ['/etc/le'] }, min_days_left: 30 })).evidence.startsWith('1 certificates'), true);
  const broken = { '/etc/ssl/local/x.pem': '-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n' };
  assert.deepEqual(await evaluate(t, broken, { certificates: { under: ['/etc/ssl/local'] }, min_days_left: 30 }), {
    result: false,
    evidence: '1 of 1 certificates: /etc/ssl/local/x.pem: not a valid certificate',
  });
});

test('no certificate at all does not apply', async (t) => {
  assert.deepEqual(await evaluate(t, { '/etc/ssl/private/key.pem': 'key\n' }, { certificates: { under: ['/etc/ssl/private', '/etc/none'] }, min_days_left: 30 }), {
    result: 'not_applicable',
    evidence: 'no certificate in /etc/ssl/private, /etc/none',
  });
  assert.equal(CertificatesRuleSchema.safeParse({ certificates: {}, min_days_left: 30 }).success, false);
});
