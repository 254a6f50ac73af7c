import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeDrift, isWorse } from './drift.js';
import type { Finding, FindingStatus } from './model.js';

function finding(kind: Finding['kind'], key: string, status: FindingStatus): Finding {
  return { kind, key, ruleId: key, source: 's', title: key, severity: 'high', status, evidence: '' };
}

test('a check that passed and now fails regressed; one that was not applicable or new did not', () => {
  const previous = new Map<string, FindingStatus>([
    ['check:p/a', 'pass'],
    ['check:p/b', 'not_applicable'],
    ['check:p/c', 'fail'],
  ]);
  const drift = computeDrift(previous, [finding('check', 'check:p/a', 'fail'), finding('check', 'check:p/b', 'fail'), finding('check', 'check:p/c', 'fail'), finding('check', 'check:p/new', 'fail')]);
  assert.deepEqual(drift, { regressed: ['check:p/a'], newVulnerabilities: [], newTls: [], resolved: [] });
  assert.equal(isWorse(drift), true);
});

test('new vulnerability and TLS keys are drift; ones already failing are not; fixed ones are resolved', () => {
  const previous = new Map<string, FindingStatus>([
    ['vulnerability:CVE-1/openssl', 'fail'],
    ['tls:127.0.0.1:443/tls-protocol-weak', 'fail'],
    ['check:p/a', 'fail'],
  ]);
  const drift = computeDrift(previous, [
    finding('vulnerability', 'vulnerability:CVE-1/openssl', 'fail'),
    finding('vulnerability', 'vulnerability:CVE-2/zlib1g', 'fail'),
    finding('tls', 'tls:127.0.0.1:8443/tls-cert-expired', 'fail'),
    finding('check', 'check:p/a', 'pass'),
  ]);
  assert.deepEqual(drift, {
    regressed: [],
    newVulnerabilities: ['vulnerability:CVE-2/zlib1g'],
    newTls: ['tls:127.0.0.1:8443/tls-cert-expired'],
    resolved: ['check:p/a', 'tls:127.0.0.1:443/tls-protocol-weak'],
  });
});

test('nothing changed: no drift', () => {
  const drift = computeDrift(new Map([['check:p/a', 'pass']]), [finding('check', 'check:p/a', 'pass')]);
  assert.equal(isWorse(drift), false);
  assert.deepEqual(drift.resolved, []);
});
