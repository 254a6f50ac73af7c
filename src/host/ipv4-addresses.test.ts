import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectIpv4Addresses, interfaceForIpv4, parseConnectedRoutes, parseFibTrieLocalAddresses } from './ipv4-addresses.js';
import { makeFixtureTree, removeFixtureTree } from './fixture-tree.js';

// /proc/net/fib_trie of a Linux 6.x VM: one Ethernet interface plus loopback.
const FIB_TRIE = `Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.0.2.0/24 2 0 2
        +-- 192.0.2.0/30 2 0 2
           |-- 192.0.2.0
              /24 link UNICAST
           |-- 192.0.2.2
              /32 host LOCAL
        |-- 192.0.2.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.0.2.0/24 2 0 2
        +-- 192.0.2.0/30 2 0 2
           |-- 192.0.2.0
              /24 link UNICAST
           |-- 192.0.2.2
              /32 host LOCAL
        |-- 192.0.2.255
           /32 link BROADCAST
`;

const ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;

test('parseFibTrieLocalAddresses keeps only /32 host LOCAL leaves, once each', () => {
  assert.deepEqual(parseFibTrieLocalAddresses(FIB_TRIE).sort(), ['127.0.0.1', '192.0.2.2']);
});

test('parseFibTrieLocalAddresses reads a leaf with several routes', () => {
  // A /32 address on a point-to-point link: the same leaf is also a link route.
  const text = 'Local:\n  +-- 10.0.0.0/8 2 0 2\n     |-- 10.8.0.1\n        /32 link UNICAST\n        /32 host LOCAL\n     |-- 10.9.0.0\n        /16 link UNICAST\n';
  assert.deepEqual(parseFibTrieLocalAddresses(text), ['10.8.0.1']);
});

test('parseConnectedRoutes drops gateway and default routes', () => {
  assert.deepEqual(parseConnectedRoutes(ROUTE, 'LE'), [{ iface: 'eth0', destination: 0xc0000200, mask: 0xffffff00 }]);
});

test('interfaceForIpv4 uses the longest connected prefix', () => {
  const routes = parseConnectedRoutes(
    [
      'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT',
      'eth0\t0000000A\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0', // 10.0.0.0/8
      'wg0\t0001000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0', // 10.0.1.0/24
      'down0\t0002000A\t00000000\t0000\t0\t0\t0\t00FFFFFF\t0\t0\t0', // not RTF_UP
    ].join('\n'),
    'LE',
  );
  assert.equal(interfaceForIpv4('10.0.1.5', routes), 'wg0');
  assert.equal(interfaceForIpv4('10.7.0.5', routes), 'eth0');
  assert.equal(interfaceForIpv4('10.0.2.5', routes), 'eth0');
  assert.equal(interfaceForIpv4('203.0.113.9', routes), 'unknown');
  // Loopback routes are in the local table, which /proc/net/route never shows.
  assert.equal(interfaceForIpv4('127.0.0.1', routes), 'lo');
});

test('collectIpv4Addresses maps fib_trie addresses to interfaces', async (t) => {
  const root = await makeFixtureTree({ '/proc/net/fib_trie': FIB_TRIE, '/proc/net/route': ROUTE });
  const noRoutes = await makeFixtureTree({ '/proc/net/fib_trie': FIB_TRIE });
  const empty = await makeFixtureTree({});
  t.after(() => Promise.all([root, noRoutes, empty].map(removeFixtureTree)));
  const byAddress = (list: Array<{ address: string }>) => [...list].sort((a, b) => a.address.localeCompare(b.address));
  assert.deepEqual(byAddress(await collectIpv4Addresses(root, 'LE')), [
    { interface: 'lo', address: '127.0.0.1', family: 'ipv4' },
    { interface: 'eth0', address: '192.0.2.2', family: 'ipv4' },
  ]);
  assert.deepEqual(byAddress(await collectIpv4Addresses(noRoutes, 'LE')), [
    { interface: 'lo', address: '127.0.0.1', family: 'ipv4' },
    { interface: 'unknown', address: '192.0.2.2', family: 'ipv4' },
  ]);
  assert.deepEqual(await collectIpv4Addresses(empty, 'LE'), []);
});
