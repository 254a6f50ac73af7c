import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ListeningPort } from '../../../protocol/facts.js';
import { LISTENING_RULE, ListeningRuleSchema } from './listening.js';
import { fixtureContext } from './test-context.js';

const SOCKETS: ListeningPort[] = [
  { protocol: 'tcp', address: '0.0.0.0', port: 22, process: { pid: 640, name: 'sshd' } },
  { protocol: 'tcp6', address: '::', port: 22, process: { pid: 640, name: 'sshd' } },
  { protocol: 'tcp', address: '127.0.0.1', port: 25, process: { pid: 900, name: 'exim4' } },
  { protocol: 'udp', address: '0.0.0.0', port: 111 },
  { protocol: 'tcp6', address: '::1', port: 8443, process: { pid: 1200, name: 'node' } },
];

async function evaluate(rule: unknown, sockets: ListeningPort[] = SOCKETS) {
  return LISTENING_RULE.evaluate(ListeningRuleSchema.parse(rule), fixtureContext('/nonexistent', { listening: sockets }));
}

test('listening on all interfaces, less the allow-list', async () => {
  assert.deepEqual(await evaluate({ listening: { address: 'all_interfaces' }, allow: [{ process: 'sshd', port: 22 }], expect: 'absent' }), {
    result: false,
    evidence: '1 listening: udp 0.0.0.0:111',
  });
  assert.deepEqual(await evaluate({ listening: { address: 'all_interfaces' }, allow: [{ process: 'sshd' }, { port: 111, protocol: 'udp' }], expect: 'absent' }), {
    result: true,
    evidence: 'no matching listening socket',
  });
});

test('listening by port list, process and protocol', async () => {
  assert.deepEqual(await evaluate({ listening: { port: [23, 111, 513, 514] }, expect: 'absent' }), { result: false, evidence: '1 listening: udp 0.0.0.0:111' });
  assert.equal((await evaluate({ listening: { port: 111, protocol: 'tcp' }, expect: 'absent' })).result, true);
  assert.deepEqual(await evaluate({ listening: { process: 'sshd' }, expect: 'present' }), {
    result: true,
    evidence: '2 listening: tcp 0.0.0.0:22 (sshd, pid 640), tcp6 [::]:22 (sshd, pid 640)',
  });
  // A socket whose owner is unknown never matches a process name.
  assert.equal((await evaluate({ listening: { process: ['rpcbind'] }, expect: 'absent' })).result, true);
});

test('listening on loopback', async () => {
  assert.deepEqual(await evaluate({ listening: { address: 'loopback' }, expect: 'present' }), {
    result: true,
    evidence: '2 listening: tcp 127.0.0.1:25 (exim4, pid 900), tcp6 [::1]:8443 (node, pid 1200)',
  });
  assert.deepEqual(await evaluate({ listening: { port: 25 }, expect: 'present' }, []), { result: false, evidence: 'no matching listening socket' });
  assert.equal(ListeningRuleSchema.safeParse({ listening: { port: 70000 }, expect: 'absent' }).success, false);
  assert.equal(ListeningRuleSchema.safeParse({ listening: { address: 'public' }, expect: 'absent' }).success, false);
});
