import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectIpv6Addresses, parseIfInet6 } from './ipv6-addresses.js';
import { makeFixtureTree, removeFixtureTree } from './fixture-tree.js';

const IF_INET6 = `00000000000000000000000000000001 01 80 10 80       lo
fd000000000000000000000000000002 04 40 00 82     eth0
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
20010db8000000010000000000000abc 05 40 00 00 br-9f3c1a2b
`;

test('parseIfInet6 formats each address as compressed text with its interface', () => {
  assert.deepEqual(parseIfInet6(IF_INET6), [
    { interface: 'lo', address: '::1', family: 'ipv6' },
    { interface: 'eth0', address: 'fd00::2', family: 'ipv6' },
    { interface: 'eth0', address: 'fe80::fc:ff:fe00:1', family: 'ipv6' },
    { interface: 'br-9f3c1a2b', address: '2001:db8:0:1::abc', family: 'ipv6' },
  ]);
});

test('parseIfInet6 skips malformed lines', () => {
  assert.deepEqual(parseIfInet6('\nnot an address 01 40 00 00 eth0\nfe80 01 40 20 80 eth0\n'), []);
});

test('collectIpv6Addresses is empty when IPv6 is disabled (no if_inet6)', async (t) => {
  const root = await makeFixtureTree({ '/proc/net/if_inet6': IF_INET6 });
  const empty = await makeFixtureTree({});
  t.after(() => Promise.all([root, empty].map(removeFixtureTree)));
  assert.equal((await collectIpv6Addresses(root)).length, 4);
  assert.deepEqual(await collectIpv6Addresses(empty), []);
});
