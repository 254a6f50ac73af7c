import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeFixtureTree, removeFixtureTree } from '../../../host/fixture-tree.js';
import type { FixtureEntry } from '../../../host/fixture-tree.js';
import { MOUNT_RULE, MountRuleSchema } from './mount.js';
import { fixtureContext } from './test-context.js';

const MOUNTS = [
  'sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0',
  '/dev/sda1 / ext4 rw,relatime 0 0',
  'tmpfs /tmp tmpfs rw,nosuid,nodev 0 0',
  'tmpfs /dev/shm tmpfs rw,nosuid,nodev,noexec 0 0',
  '/dev/sdb1 /srv/my\\040data ext4 rw 0 0',
  '',
].join('\n');

async function evaluate(t: { after(fn: () => Promise<void>): void }, files: Record<string, FixtureEntry>, rule: unknown) {
  const root = await makeFixtureTree(files);
  t.after(() => removeFixtureTree(root));
  return MOUNT_RULE.evaluate(MountRuleSchema.parse(rule), fixtureContext(root));
}

test('mount passes with the mount line when every option is there', async (t) => {
  assert.deepEqual(await evaluate(t, { '/proc/self/mounts': MOUNTS }, { mount: '/dev/shm', options_include: ['nodev', 'nosuid', 'noexec'] }), {
    result: true,
    evidence: '/proc/self/mounts:4: tmpfs /dev/shm tmpfs rw,nosuid,nodev,noexec 0 0',
  });
});

test('mount names the missing options', async (t) => {
  assert.deepEqual(await evaluate(t, { '/proc/self/mounts': MOUNTS }, { mount: '/tmp/', options_include: ['nodev', 'noexec'] }), {
    result: false,
    evidence: 'missing noexec: /proc/self/mounts:3: tmpfs /tmp tmpfs rw,nosuid,nodev 0 0',
  });
});

test('mount without a separate mount point uses if_missing', async (t) => {
  const files = { '/proc/self/mounts': MOUNTS };
  assert.deepEqual(await evaluate(t, files, { mount: '/var/tmp' }), { result: false, evidence: '/var/tmp is not a separate mount (/proc/self/mounts)' });
  assert.equal((await evaluate(t, files, { mount: '/var/tmp', if_missing: true })).result, true);
});

test('mount decodes octal escapes and lets the last mount on a path win', async (t) => {
  const stacked = `${MOUNTS}tmpfs /tmp tmpfs rw,nosuid,nodev,noexec 0 0\n`;
  assert.equal((await evaluate(t, { '/proc/self/mounts': MOUNTS }, { mount: '/srv/my data' })).result, true);
  assert.deepEqual(await evaluate(t, { '/proc/self/mounts': stacked }, { mount: '/tmp', options_include: ['noexec'] }), {
    result: true,
    evidence: '/proc/self/mounts:6: tmpfs /tmp tmpfs rw,nosuid,nodev,noexec 0 0',
  });
});

test('mount falls back to /proc/mounts, then to /etc/fstab', async (t) => {
  assert.equal((await evaluate(t, { '/proc/mounts': MOUNTS }, { mount: '/tmp', options_include: ['nodev'] })).evidence, '/proc/mounts:3: tmpfs /tmp tmpfs rw,nosuid,nodev 0 0');
  const fstab = '# /etc/fstab\nUUID=1 / ext4 defaults 0 1\ntmpfs /tmp tmpfs defaults,nodev,nosuid,noexec 0 0\n';
  assert.deepEqual(await evaluate(t, { '/etc/fstab': fstab }, { mount: '/tmp', options_include: ['noexec'] }), {
    result: true,
    evidence: '/etc/fstab:3: tmpfs /tmp tmpfs defaults,nodev,nosuid,noexec 0 0',
  });
  assert.deepEqual(await evaluate(t, {}, { mount: '/tmp' }), {
    result: 'not_applicable',
    evidence: 'no mount table (/proc/self/mounts, /proc/mounts, /etc/fstab)',
  });
});

test('mount options are validated strictly', () => {
  assert.equal(MountRuleSchema.safeParse({ mount: 'tmp' }).success, false);
  assert.equal(MountRuleSchema.safeParse({ mount: '/tmp', options: ['nodev'] }).success, false);
});
