import { test } from 'node:test';
import assert from 'node:assert/strict';
import { factsHash, type NodeFacts } from './facts.js';

function facts(overrides: Partial<NodeFacts> = {}): NodeFacts {
  return {
    hostname: 'web-1',
    os: { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
    kernel: '6.1.0-18-amd64',
    arch: 'x86_64',
    cpuCount: 4,
    memoryBytes: 8 * 1024 ** 3,
    uptimeSeconds: 1234.5,
    ipAddresses: [{ interface: 'eth0', address: '10.0.0.5', family: 'ipv4' }],
    listeningPorts: [{ protocol: 'tcp', address: '0.0.0.0', port: 22, process: { pid: 812, name: 'sshd' } }],
    packages: { manager: 'dpkg', count: 612 },
    collectedAt: Date.UTC(2026, 0, 1),
    ...overrides,
  };
}

test('factsHash is a SHA-256 in hex and stable', () => {
  assert.match(factsHash(facts()), /^[0-9a-f]{64}$/);
  assert.equal(factsHash(facts()), factsHash(facts()));
});

test('factsHash ignores uptimeSeconds and collectedAt', () => {
  const base = factsHash(facts());
  assert.equal(factsHash(facts({ uptimeSeconds: 99_999 })), base);
  assert.equal(factsHash(facts({ collectedAt: Date.UTC(2027, 5, 1) })), base);
  assert.equal(factsHash(facts({ uptimeSeconds: undefined })), base);
  const { uptimeSeconds: _dropped, ...withoutUptime } = facts();
  assert.equal(factsHash(withoutUptime), base);
});

test('factsHash changes when a fact that matters changes', () => {
  const base = factsHash(facts());
  const changed: Partial<NodeFacts>[] = [
    { hostname: 'web-2' },
    { os: { id: 'debian', versionId: '13' } },
    { kernel: '6.1.0-19-amd64' },
    { cpuCount: 8 },
    { memoryBytes: 4 * 1024 ** 3 },
    { ipAddresses: [] },
    { listeningPorts: [{ protocol: 'tcp', address: '0.0.0.0', port: 2222 }] },
    { packages: { manager: 'dpkg', count: 613 } },
  ];
  for (const change of changed) assert.notEqual(factsHash(facts(change)), base, JSON.stringify(change));
});

test('factsHash does not depend on the order object keys were written in', () => {
  const original = facts();
  const reordered = Object.fromEntries(Object.entries(original).reverse()) as NodeFacts;
  reordered.os = { prettyName: 'Debian GNU/Linux 12 (bookworm)', versionId: '12', id: 'debian' };
  assert.notDeepEqual(Object.keys(reordered), Object.keys(original));
  assert.equal(factsHash(reordered), factsHash(original));
});

// Lists are hashed in order: the collectors sort addresses and ports, so the order is stable.
test('factsHash does depend on the order of list entries', () => {
  const two = [
    { interface: 'eth0', address: '10.0.0.5', family: 'ipv4' as const },
    { interface: 'eth1', address: '10.0.1.5', family: 'ipv4' as const },
  ];
  assert.notEqual(factsHash(facts({ ipAddresses: two })), factsHash(facts({ ipAddresses: [...two].reverse() })));
});
