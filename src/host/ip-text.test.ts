import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { formatIpv4, formatIpv6, networkHexToBytes, parseIpv4Text, procHexToBytes } from './ip-text.js';

function v6(text: string): Uint8Array {
  // Expands a test literal through the WHATWG URL parser, an independent implementation.
  const host = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  const [head = '', tail = ''] = host.split('::');
  const h = head === '' ? [] : head.split(':');
  const tl = host.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = [...h, ...Array<string>(8 - h.length - tl.length).fill('0'), ...tl];
  return Uint8Array.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

test('formatIpv6 follows RFC 5952', () => {
  const cases: Array<[string, string]> = [
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not compressed
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run wins
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // on a tie, the first run
    ['fe80:0:0:0:fc:ff:fe00:1', 'fe80::fc:ff:fe00:1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['FD00:0:0:0:0:0:0:ABCD', 'fd00::abcd'],
    ['0:0:0:0:0:ffff:7f00:1', '::ffff:127.0.0.1'],
  ];
  for (const [input, expected] of cases) assert.equal(formatIpv6(v6(input)), expected, input);
});

test('formatIpv6 agrees with the WHATWG URL serialiser on random addresses', () => {
  for (let i = 0; i < 2000; i++) {
    const groups = Array.from({ length: 8 }, () => (randomInt(3) === 0 ? randomInt(0x10000) : 0));
    if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) continue;
    const bytes = Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff]));
    const text = groups.map((g) => g.toString(16)).join(':');
    assert.equal(formatIpv6(bytes), new URL(`http://[${text}]/`).hostname.slice(1, -1), text);
  }
});

test('procHexToBytes reads each 32-bit word in host byte order', () => {
  assert.equal(formatIpv4(procHexToBytes('0100007F', 'LE') ?? new Uint8Array()), '127.0.0.1');
  assert.equal(formatIpv4(procHexToBytes('7F000001', 'BE') ?? new Uint8Array()), '127.0.0.1');
  assert.equal(formatIpv4(procHexToBytes('000200C0', 'LE') ?? new Uint8Array()), '192.0.2.0');
  assert.equal(formatIpv6(procHexToBytes('00000000000000000000000001000000', 'LE') ?? new Uint8Array()), '::1');
  assert.equal(formatIpv6(procHexToBytes('B80D0120000000000000000001000000', 'LE') ?? new Uint8Array()), '2001:db8::1');
  assert.equal(formatIpv6(procHexToBytes('20010DB8000000000000000000000001', 'BE') ?? new Uint8Array()), '2001:db8::1');
  assert.equal(formatIpv6(procHexToBytes('0000000000000000FFFF00000100007F', 'LE') ?? new Uint8Array()), '::ffff:127.0.0.1');
  assert.equal(procHexToBytes('XYZ', 'LE'), undefined);
  assert.equal(procHexToBytes('0100007', 'LE'), undefined);
});

test('networkHexToBytes reads if_inet6 addresses, which are in network order', () => {
  assert.equal(formatIpv6(networkHexToBytes('fe8000000000000000fc00fffe000001') ?? new Uint8Array()), 'fe80::fc:ff:fe00:1');
  assert.equal(networkHexToBytes('fe80'), undefined);
});

test('parseIpv4Text', () => {
  assert.equal(parseIpv4Text('192.0.2.2'), 0xc0000202);
  assert.equal(parseIpv4Text('255.255.255.255'), 0xffffffff);
  assert.equal(parseIpv4Text('256.0.0.1'), undefined);
  assert.equal(parseIpv4Text('1.2.3'), undefined);
});
