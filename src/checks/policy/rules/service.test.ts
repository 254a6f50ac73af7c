import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeFixtureTree, removeFixtureTree } from '../../../host/fixture-tree.js';
import type { FixtureEntry } from '../../../host/fixture-tree.js';
import { SERVICE_RULE, ServiceRuleSchema } from './service.js';
import { fixtureContext } from './test-context.js';

const BASE: Record<string, FixtureEntry> = {
  '/etc/systemd/system/multi-user.target.wants/chrony.service': { link: '/lib/systemd/system/chrony.service' },
  '/etc/systemd/system/sysinit.target.wants/apparmor.service': { link: '/lib/systemd/system/apparmor.service' },
  '/lib/systemd/system/chrony.service': '[Unit]\n',
  '/lib/systemd/system/timers.target.wants/apt-daily.timer': { link: '../apt-daily.timer' },
};

async function evaluate(t: { after(fn: () => Promise<void>): void }, files: Record<string, FixtureEntry>, rule: unknown) {
  const root = await makeFixtureTree(files);
  t.after(() => removeFixtureTree(root));
  return SERVICE_RULE.evaluate(ServiceRuleSchema.parse(rule), fixtureContext(root));
}

test('any one of several enabled services satisfies enabled: true', async (t) => {
  assert.deepEqual(await evaluate(t, BASE, { service: ['systemd-timesyncd', 'chrony', 'ntp'], enabled: true }), {
    result: true,
    evidence: 'chrony.service is enabled: /etc/systemd/system/multi-user.target.wants/chrony.service',
  });
});

test('vendor .wants links and explicit unit types count', async (t) => {
  assert.deepEqual(await evaluate(t, BASE, { service: 'apt-daily.timer', enabled: true }), {
    result: true,
    evidence: 'apt-daily.timer is enabled: /lib/systemd/system/timers.target.wants/apt-daily.timer',
  });
});

test('enabled: false passes when none is enabled and fails naming the one that is', async (t) => {
  assert.deepEqual(await evaluate(t, BASE, { service: ['telnet', 'rsh'], enabled: false }), { result: true, evidence: 'none of telnet.service, rsh.service is enabled' });
  assert.deepEqual(await evaluate(t, BASE, { service: 'auditd', enabled: true }), { result: false, evidence: 'auditd.service is not enabled' });
  assert.equal((await evaluate(t, BASE, { service: 'chrony', enabled: false })).result, false);
});

test('a masked unit is not enabled, even with a .wants link', async (t) => {
  const files = { ...BASE, '/etc/systemd/system/chrony.service': { link: '/dev/null' } };
  assert.deepEqual(await evaluate(t, files, { service: 'chrony', enabled: true }), {
    result: false,
    evidence: 'chrony.service is not enabled: chrony.service is masked (/etc/systemd/system/chrony.service → /dev/null)',
  });
});

test('a host without systemd unit directories does not apply', async (t) => {
  assert.deepEqual(await evaluate(t, { '/etc/hostname': 'x\n' }, { service: 'chrony', enabled: true }), {
    result: 'not_applicable',
    evidence: 'no /etc/systemd/system: not a systemd host',
  });
  assert.equal(ServiceRuleSchema.safeParse({ service: [], enabled: true }).success, false);
  assert.equal(ServiceRuleSchema.safeParse({ service: 'a/b', enabled: true }).success, false);
});
