import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectListeningPorts, mergeListeningPorts, parseSocketTable } from './listening-ports.js';
import { makeFixtureTree, removeFixtureTree } from './fixture-tree.js';

const TCP_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
const TCP6_HEADER = '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
const UDP_HEADER = '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops';

// Real lines as Linux 6.x prints them on x86_64 (little-endian).
const TCP = [
  TCP_HEADER,
  '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 40001 1 0000000000000000 100 0 0 10 0',
  '   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 40002 1 0000000000000000 100 0 0 10 5',
  // An established connection from 192.0.2.2:22 to 203.0.113.7:51234 is not a listener.
  '   2: 020200C0:0016 0771CBCB:C822 01 00000000:00000000 02:000A7B2C 00000000     0        0 40003 4 0000000000000000 20 4 31 10 -1',
  // A listener in a container's or another user's process nobody can see.
  '   3: 00000000:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 40009 1 0000000000000000 100 0 0 10 0',
].join('\n');

const TCP6 = [
  TCP6_HEADER,
  '   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 40004 1 0000000000000000 100 0 0 10 0',
  '   1: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 40005 1 0000000000000000 100 0 0 10 0',
  '   2: 0000000000000000FFFF00000100007F:0CEA 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 40010 1 0000000000000000 100 0 0 10 0',
  '   3: 00000000000000000000000001000000:0016 00000000000000000000000001000000:D0F2 01 00000000:00000000 02:00000B8A 00000000     0        0 40006 2 0000000000000000 20 4 30 10 -1',
].join('\n');

const UDP = [
  UDP_HEADER,
  '  123: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 40007 2 0000000000000000 0',
  // A connected UDP socket (e.g. a DNS client) is not listening.
  '  456: 020200C0:D431 08080808:0035 01 00000000:00000000 00:00000000 00000000  1000        0 40008 2 0000000000000000 0',
].join('\n');

const UDP6 = [
  UDP_HEADER,
  '  789: 000080FE00000000FF00FC00010000FE:0222 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 40011 2 0000000000000000 0',
].join('\n');

test('parseSocketTable decodes little-endian IPv4 words: 0100007F:1F90 is 127.0.0.1:8080', () => {
  assert.deepEqual(parseSocketTable(TCP, 'tcp', 'LE'), [
    { protocol: 'tcp', address: '127.0.0.1', port: 8080, inode: 40001 },
    { protocol: 'tcp', address: '0.0.0.0', port: 22, inode: 40002 },
    { protocol: 'tcp', address: '0.0.0.0', port: 8081, inode: 40009 },
  ]);
});

test('parseSocketTable decodes tcp6 words: ::1, :: and an IPv4-mapped address', () => {
  assert.deepEqual(parseSocketTable(TCP6, 'tcp6', 'LE'), [
    { protocol: 'tcp6', address: '::1', port: 8080, inode: 40004 },
    { protocol: 'tcp6', address: '::', port: 22, inode: 40005 },
    { protocol: 'tcp6', address: '::ffff:127.0.0.1', port: 3306, inode: 40010 },
  ]);
});

test('parseSocketTable counts unconnected UDP sockets only', () => {
  assert.deepEqual(parseSocketTable(UDP, 'udp', 'LE'), [{ protocol: 'udp', address: '0.0.0.0', port: 68, inode: 40007 }]);
  assert.deepEqual(parseSocketTable(UDP6, 'udp6', 'LE'), [{ protocol: 'udp6', address: 'fe80::fc:ff:fe00:1', port: 546, inode: 40011 }]);
});

test('parseSocketTable reads big-endian hosts, where words are in network order', () => {
  const be = `${TCP_HEADER}\n   0: 7F000001:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0 100 0 0 10 0`;
  assert.deepEqual(parseSocketTable(be, 'tcp', 'BE'), [{ protocol: 'tcp', address: '127.0.0.1', port: 8080, inode: 1 }]);
});

test('parseSocketTable ignores the header, blank and malformed lines', () => {
  assert.deepEqual(parseSocketTable(`${TCP_HEADER}\n\n   0: nonsense\n   1: 0100007F:1F90 00000000:0000 0A`, 'tcp', 'LE'), []);
});

test('mergeListeningPorts dedupes, prefers a known and lower-pid owner, sorts by protocol then port', () => {
  const merged = mergeListeningPorts([
    { protocol: 'udp', address: '0.0.0.0', port: 53 },
    { protocol: 'tcp', address: '0.0.0.0', port: 80 },
    { protocol: 'tcp', address: '0.0.0.0', port: 80, process: { pid: 900, name: 'nginx' } },
    { protocol: 'tcp', address: '0.0.0.0', port: 80, process: { pid: 300, name: 'nginx' } },
    { protocol: 'tcp', address: '0.0.0.0', port: 80, process: { pid: 901, name: 'nginx' } },
    { protocol: 'tcp6', address: '::', port: 22 },
    { protocol: 'tcp', address: '127.0.0.1', port: 22 },
    { protocol: 'tcp', address: '0.0.0.0', port: 22 },
  ]);
  assert.deepEqual(merged, [
    { protocol: 'tcp', address: '0.0.0.0', port: 22 },
    { protocol: 'tcp', address: '127.0.0.1', port: 22 },
    { protocol: 'tcp', address: '0.0.0.0', port: 80, process: { pid: 300, name: 'nginx' } },
    { protocol: 'tcp6', address: '::', port: 22 },
    { protocol: 'udp', address: '0.0.0.0', port: 53 },
  ]);
});

test('collectListeningPorts names owning processes through /proc/<pid>/fd', async (t) => {
  const root = await makeFixtureTree({
    '/proc/net/tcp': TCP,
    '/proc/net/tcp6': TCP6,
    '/proc/net/udp': UDP,
    // udp6 missing, as on a host booted with ipv6.disable=1: the rest still counts.
    '/proc/1/comm': 'systemd\n',
    '/proc/1/fd/0': { link: '/dev/null' },
    '/proc/1/fd/5': { link: 'socket:[40007]' },
    '/proc/812/comm': 'sshd\n',
    '/proc/812/fd/3': { link: 'socket:[40002]' },
    '/proc/812/fd/4': { link: 'socket:[40005]' },
    '/proc/2040/comm': 'node\n',
    '/proc/2040/fd/1': { link: 'pipe:[99]' },
    '/proc/2040/fd/20': { link: 'socket:[40001]' },
    '/proc/2040/fd/21': { link: 'socket:[40004]' },
    '/proc/2040/fd/22': { link: 'socket:[40008]' },
    // A process whose fds cannot be read (here a regular file, not a link) is skipped.
    '/proc/3000/comm': 'other\n',
    '/proc/3000/fd/7': 'not a link',
    // A process without comm (exited between the two reads) is left unnamed.
    '/proc/3100/fd/9': { link: 'socket:[40010]' },
    // Not a process directory.
    '/proc/net/dummy': '',
    '/proc/self': { link: '2040' },
  });
  t.after(() => removeFixtureTree(root));
  assert.deepEqual(await collectListeningPorts(root, 'LE'), [
    { protocol: 'tcp', address: '0.0.0.0', port: 22, process: { pid: 812, name: 'sshd' } },
    { protocol: 'tcp', address: '127.0.0.1', port: 8080, process: { pid: 2040, name: 'node' } },
    { protocol: 'tcp', address: '0.0.0.0', port: 8081 },
    { protocol: 'tcp6', address: '::', port: 22, process: { pid: 812, name: 'sshd' } },
    { protocol: 'tcp6', address: '::ffff:127.0.0.1', port: 3306 },
    { protocol: 'tcp6', address: '::1', port: 8080, process: { pid: 2040, name: 'node' } },
    { protocol: 'udp', address: '0.0.0.0', port: 68, process: { pid: 1, name: 'systemd' } },
  ]);
});

test('collectListeningPorts is empty without /proc/net', async (t) => {
  const root = await makeFixtureTree({});
  t.after(() => removeFixtureTree(root));
  assert.deepEqual(await collectListeningPorts(root, 'LE'), []);
});
