import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeFixtureTree, removeFixtureTree } from '../../../host/fixture-tree.js';
import { createRuleContext } from '../context.js';
import { createRootedHost } from '../rooted-host.js';
import { dottedKey, procSysPath } from './sysctl-conf.js';
import { SYSCTL_RULE, SysctlRuleSchema } from './sysctl-rule.js';
import type { RuleOutcome } from './types.js';

let root = '';

function run(rule: unknown): Promise<RuleOutcome> {
  return SYSCTL_RULE.evaluate(SysctlRuleSchema.parse(rule), createRuleContext(createRootedHost(root), 0));
}

describe('sysctl rule', () => {
  before(async () => {
    root = await makeFixtureTree({
      '/proc/sys/net/ipv4/ip_forward': '0\n',
      '/proc/sys/net/ipv4/conf/all/rp_filter': '1\n',
      '/proc/sys/net/ipv4/conf/eth0.100/rp_filter': '2\n',
      '/proc/sys/net/ipv4/ip_local_port_range': '32768\t60999\n',
      '/proc/sys/kernel/randomize_va_space': '2\n',
      '/proc/sys/fs/suid_dumpable': '0\n',
      // Precedence: /usr/lib, then /etc overriding the same name, sorted by name, then /etc/sysctl.conf.
      '/usr/lib/sysctl.d/50-default.conf': 'net.ipv4.conf.all.rp_filter = 2\nkernel.randomize_va_space = 1\nfs.suid_dumpable = 1\n',
      '/usr/lib/sysctl.d/99-vendor.conf': 'net.ipv4.ip_forward = 1\n',
      '/etc/sysctl.d/99-vendor.conf': '# replaces the vendor file of the same name\nnet.ipv4.ip_forward = 0\n',
      '/etc/sysctl.d/60-net.conf': '-net.ipv4.conf.*.rp_filter = 1\n; comment\n',
      '/etc/sysctl.conf': 'kernel/randomize_va_space=2\n',
    });
  });
  after(() => removeFixtureTree(root));

  it('reads the running value from /proc/sys', async () => {
    assert.deepEqual(await run({ sysctl: 'net.ipv4.ip_forward', equals: 0 }), { result: true, evidence: 'net.ipv4.ip_forward = 0 (running)' });
    assert.deepEqual(await run({ sysctl: 'net.ipv4.ip_forward', equals: '1' }), { result: false, evidence: 'net.ipv4.ip_forward = 0 (running)' });
    assert.deepEqual(await run({ sysctl: 'net.ipv4.ip_local_port_range', equals: '32768 60999' }), { result: true, evidence: 'net.ipv4.ip_local_port_range = 32768 60999 (running)' });
    assert.deepEqual(await run({ sysctl: 'net.ipv4.conf.eth0/100.rp_filter', in: [1, 2] }), { result: true, evidence: 'net.ipv4.conf.eth0/100.rp_filter = 2 (running)' });
    assert.deepEqual(await run({ sysctl: 'kernel.randomize_va_space', min: 2, max: 2 }), { result: true, evidence: 'kernel.randomize_va_space = 2 (running)' });
    assert.deepEqual(await run({ sysctl: 'net.ipv4.ip_local_port_range', min: 1 }), { result: false, evidence: 'net.ipv4.ip_local_port_range = 32768 60999 (running) (not a number)' });
  });

  it('uses if_missing when the kernel has no such parameter', async () => {
    assert.deepEqual(await run({ sysctl: 'net.ipv6.conf.all.forwarding', equals: 0 }), { result: false, evidence: 'net.ipv6.conf.all.forwarding: /proc/sys/net/ipv6/conf/all/forwarding does not exist' });
    assert.deepEqual(await run({ sysctl: 'net.ipv6.conf.all.forwarding', equals: 0, if_missing: true }), {
      result: true,
      evidence: 'net.ipv6.conf.all.forwarding: /proc/sys/net/ipv6/conf/all/forwarding does not exist',
    });
  });

  it('with persisted, also needs the setting that wins at boot', async () => {
    assert.deepEqual(await run({ sysctl: 'net.ipv4.ip_forward', equals: 0, persisted: true }), {
      result: true,
      evidence: 'net.ipv4.ip_forward = 0 (running); /etc/sysctl.d/99-vendor.conf:2: net.ipv4.ip_forward = 0',
    });
    assert.deepEqual(await run({ sysctl: 'net.ipv4.conf.all.rp_filter', equals: 1, persisted: true }), {
      result: true,
      evidence: 'net.ipv4.conf.all.rp_filter = 1 (running); /etc/sysctl.d/60-net.conf:1: -net.ipv4.conf.*.rp_filter = 1',
    });
    assert.deepEqual(await run({ sysctl: 'kernel.randomize_va_space', equals: 2, persisted: true }), {
      result: true,
      evidence: 'kernel.randomize_va_space = 2 (running); /etc/sysctl.conf:1: kernel/randomize_va_space=2',
    });
    assert.deepEqual(await run({ sysctl: 'fs.suid_dumpable', equals: 0, persisted: true }), {
      result: false,
      evidence: 'fs.suid_dumpable = 0 (running); /usr/lib/sysctl.d/50-default.conf:3: fs.suid_dumpable = 1',
    });
    assert.deepEqual(await run({ sysctl: 'net.ipv4.ip_local_port_range', min: 0, persisted: true }), {
      result: false,
      evidence: 'net.ipv4.ip_local_port_range = 32768 60999 (running) (not a number)',
    });
  });

  it('names keys and /proc/sys files as sysctl does', () => {
    assert.equal(dottedKey('net/ipv4/conf/eth0.100/rp_filter'), 'net.ipv4.conf.eth0/100.rp_filter');
    assert.equal(procSysPath('net.ipv4.conf.eth0/100.rp_filter'), '/proc/sys/net/ipv4/conf/eth0.100/rp_filter');
    assert.equal(procSysPath('kernel/randomize_va_space'), '/proc/sys/kernel/randomize_va_space');
    assert.equal(SysctlRuleSchema.safeParse({ sysctl: 'kernel.x', persisted: true }).error?.issues[0]?.message, 'give one of equals, in, min or max');
  });
});
