import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeFactsSchema, type NodeFacts } from '../protocol/facts.js';
import { collectFacts, factsHash } from './collect.js';
import { type FixtureEntry, makeFixtureTree, removeFixtureTree } from './fixture-tree.js';
import { hostEndianness } from './ip-text.js';

const HOST: Record<string, FixtureEntry> = {
  '/proc/sys/kernel/hostname': 'web-1\n',
  '/proc/sys/kernel/osrelease': '6.1.0-28-amd64\n',
  '/proc/sys/kernel/arch': 'x86_64\n',
  '/proc/cpuinfo': 'processor\t: 0\nmodel name\t: x\n\nprocessor\t: 1\nmodel name\t: x\n\n',
  '/proc/meminfo': 'MemTotal:        2048 kB\nMemFree:         1024 kB\n',
  '/proc/uptime': '1234.56 2000.00\n',
  '/etc/os-release': 'ID=debian\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
  '/proc/net/fib_trie':
    'Local:\n  +-- 0.0.0.0/0 3 0 5\n     +-- 127.0.0.0/8 2 0 2\n        |-- 127.0.0.1\n           /32 host LOCAL\n     |-- 192.0.2.2\n        /32 host LOCAL\n',
  '/proc/net/route': 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\neth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n',
  '/proc/net/if_inet6': '00000000000000000000000000000001 01 80 10 80 lo\nfd000000000000000000000000000002 04 40 00 82 eth0\n',
  '/proc/net/tcp':
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n' +
    '   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 500 1 0000000000000000 100 0 0 10 0\n',
  '/proc/812/comm': 'sshd\n',
  '/proc/812/fd/3': { link: 'socket:[500]' },
  '/var/lib/dpkg/status': 'Package: a\nStatus: install ok installed\n\nPackage: b\nStatus: install ok installed\n',
};

const LE = hostEndianness === 'LE';

test('collectFacts gathers every field from a fixture tree', { skip: !LE && 'fixture uses little-endian /proc/net lines' }, async (t) => {
  const root = await makeFixtureTree(HOST);
  t.after(() => removeFixtureTree(root));
  const facts = await collectFacts({ root, now: () => 1_767_225_600_000 });
  assert.deepEqual(facts, {
    hostname: 'web-1',
    os: {
      id: 'debian',
      name: 'Debian GNU/Linux',
      version: '12 (bookworm)',
      versionId: '12',
      prettyName: 'Debian GNU/Linux 12 (bookworm)',
      codename: 'bookworm',
    },
    kernel: '6.1.0-28-amd64',
    arch: 'x86_64',
    cpuCount: 2,
    memoryBytes: 2048 * 1024,
    uptimeSeconds: 1234.56,
    ipAddresses: [
      { interface: 'eth0', address: '192.0.2.2', family: 'ipv4' },
      { interface: 'lo', address: '127.0.0.1', family: 'ipv4' },
      { interface: 'eth0', address: 'fd00::2', family: 'ipv6' },
      { interface: 'lo', address: '::1', family: 'ipv6' },
    ],
    listeningPorts: [{ protocol: 'tcp', address: '0.0.0.0', port: 22, process: { pid: 812, name: 'sshd' } }],
    packages: { manager: 'dpkg', count: 2 },
    collectedAt: 1_767_225_600_000,
  });
  assert.deepEqual(NodeFactsSchema.parse(facts), facts);
});

test('collectFacts from an empty tree still yields valid facts', async (t) => {
  const root = await makeFixtureTree({});
  t.after(() => removeFixtureTree(root));
  const errors: string[] = [];
  const facts = await collectFacts({ root, now: () => 42, onError: (name) => errors.push(name) });
  assert.deepEqual(facts, { hostname: '', os: {}, ipAddresses: [], listeningPorts: [], collectedAt: 42 });
  assert.deepEqual(errors, [], 'absent files are not errors');
  NodeFactsSchema.parse(facts);
});

test('a collector that fails costs only its own field', async (t) => {
  // Directories where files should be make each read fail with EISDIR, as a
  // permission error would (the tests may run as root, where chmod 000 does not bite).
  const broken: Record<string, FixtureEntry> = {
    ...HOST,
    '/proc/meminfo': { dir: true },
    '/etc/os-release': { dir: true },
    '/proc/net/fib_trie': { dir: true },
    '/var/lib/dpkg/status': { dir: true },
  };
  const root = await makeFixtureTree(broken);
  t.after(() => removeFixtureTree(root));
  const errors: string[] = [];
  const facts = await collectFacts({ root, now: () => 1, onError: (name) => errors.push(name) });
  assert.deepEqual(errors.sort(), ['ipv4Addresses', 'memoryBytes', 'os', 'packages']);
  assert.equal(facts.memoryBytes, undefined);
  assert.equal(facts.packages, undefined);
  assert.deepEqual(facts.os, {});
  assert.deepEqual(
    facts.ipAddresses.map((a) => a.family),
    ['ipv6', 'ipv6'],
  );
  assert.equal(facts.hostname, 'web-1');
  assert.equal(facts.cpuCount, 2);
  NodeFactsSchema.parse(facts);
});

test('collectFacts defaults collectedAt to the current time', async (t) => {
  const root = await makeFixtureTree({});
  t.after(() => removeFixtureTree(root));
  const before = Date.now();
  const facts = await collectFacts({ root });
  assert.ok(facts.collectedAt >= before && facts.collectedAt <= Date.now());
});

const BASE: NodeFacts = {
  hostname: 'web-1',
  os: { id: 'debian', versionId: '12' },
  kernel: '6.1.0',
  cpuCount: 2,
  uptimeSeconds: 10,
  ipAddresses: [{ interface: 'eth0', address: '192.0.2.2', family: 'ipv4' }],
  listeningPorts: [{ protocol: 'tcp', address: '0.0.0.0', port: 22 }],
  packages: { manager: 'dpkg', count: 140 },
  collectedAt: 1000,
};

test('factsHash ignores uptime and collection time', () => {
  const later = { ...BASE, uptimeSeconds: 99999, collectedAt: 2_000_000 };
  const { uptimeSeconds: _u, ...withoutUptime } = BASE;
  assert.equal(factsHash(later), factsHash(BASE));
  assert.equal(factsHash(withoutUptime), factsHash(BASE));
  assert.match(factsHash(BASE), /^[0-9a-f]{64}$/);
});

test('factsHash does not depend on key order', () => {
  const reordered: NodeFacts = {
    collectedAt: 5,
    packages: { count: 140, manager: 'dpkg' },
    listeningPorts: [{ port: 22, address: '0.0.0.0', protocol: 'tcp' }],
    ipAddresses: [{ family: 'ipv4', address: '192.0.2.2', interface: 'eth0' }],
    cpuCount: 2,
    kernel: '6.1.0',
    os: { versionId: '12', id: 'debian' },
    hostname: 'web-1',
  };
  assert.equal(factsHash(reordered), factsHash(BASE));
});

test('factsHash changes when something real changes', () => {
  const base = factsHash(BASE);
  const variants: NodeFacts[] = [
    { ...BASE, hostname: 'web-2' },
    { ...BASE, kernel: '6.1.1' },
    { ...BASE, packages: { manager: 'dpkg', count: 141 } },
    { ...BASE, listeningPorts: [...BASE.listeningPorts, { protocol: 'tcp', address: '0.0.0.0', port: 80 }] },
    { ...BASE, ipAddresses: [] },
    { ...BASE, os: { id: 'debian', versionId: '13' } },
  ];
  const hashes = new Set(variants.map(factsHash));
  assert.equal(hashes.size, variants.length);
  assert.equal(hashes.has(base), false);
});

test('smoke: collectFacts on this machine\'s / yields valid facts', { skip: process.platform !== 'linux' && 'not Linux' }, async () => {
  const errors: string[] = [];
  const facts = await collectFacts({ onError: (name, err) => errors.push(`${name}: ${String(err)}`) });
  NodeFactsSchema.parse(facts);
  assert.deepEqual(errors, []);
  assert.notEqual(facts.hostname, '');
  assert.ok(facts.kernel !== undefined && facts.kernel !== '');
  assert.ok((facts.cpuCount ?? 0) >= 1);
  assert.ok((facts.memoryBytes ?? 0) > 0);
  assert.ok(facts.ipAddresses.some((a) => a.address === '127.0.0.1' || a.address === '::1'));
  assert.match(factsHash(facts), /^[0-9a-f]{64}$/);
});
