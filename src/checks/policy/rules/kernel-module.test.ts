import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeFixtureTree, removeFixtureTree } from '../../../host/fixture-tree.js';
import type { FixtureEntry } from '../../../host/fixture-tree.js';
import { KERNEL_MODULE_RULE, KernelModuleRuleSchema } from './kernel-module.js';
import { fixtureContext } from './test-context.js';

const RELEASE = '6.1.0-18-amd64';
const BASE: Record<string, FixtureEntry> = {
  '/proc/sys/kernel/osrelease': `${RELEASE}\n`,
  '/proc/modules': 'ext4 1007616 1 - Live 0x0000000000000000\nusb_storage 81920 0 - Live 0x0000000000000000\n',
  [`/lib/modules/${RELEASE}/modules.dep`]: 'kernel/fs/cramfs/cramfs.ko.xz:\nkernel/fs/udf/udf.ko.xz: kernel/lib/crc-itu-t.ko.xz\nkernel/drivers/usb/storage/usb-storage.ko.xz:\n',
  [`/lib/modules/${RELEASE}/modules.builtin`]: 'kernel/fs/ext4/ext4.ko\nkernel/fs/vfat/vfat.ko\n',
};

async function evaluate(t: { after(fn: () => Promise<void>): void }, files: Record<string, FixtureEntry>, name: string, disabled = true) {
  const root = await makeFixtureTree(files);
  t.after(() => removeFixtureTree(root));
  return KERNEL_MODULE_RULE.evaluate(KernelModuleRuleSchema.parse({ kernel_module: name, disabled }), fixtureContext(root));
}

test('a module denied by an install line is disabled, with the line as evidence', async (t) => {
  const files = { ...BASE, '/etc/modprobe.d/cramfs.conf': '# no cramfs\ninstall cramfs /bin/false\n' };
  assert.deepEqual(await evaluate(t, files, 'cramfs'), {
    result: true,
    evidence: 'cramfs is not loaded and is denied: /etc/modprobe.d/cramfs.conf:2: install cramfs /bin/false',
  });
  assert.equal((await evaluate(t, files, 'cramfs', false)).result, false);
});

test('blacklist lines in /usr/lib/modprobe.d count, and - and _ are one', async (t) => {
  const files = { ...BASE, '/usr/lib/modprobe.d/fs.conf': 'blacklist udf\n', '/proc/modules': '' };
  assert.equal((await evaluate(t, files, 'udf')).evidence, 'udf is not loaded and is denied: /usr/lib/modprobe.d/fs.conf:1: blacklist udf');
  const usb = { ...BASE, '/etc/modprobe.d/usb.conf': 'install usb_storage /bin/true\n', '/proc/modules': '' };
  assert.equal((await evaluate(t, usb, 'usb-storage')).result, true);
});

test('a loaded module is not disabled, whatever modprobe.d says', async (t) => {
  const files = { ...BASE, '/etc/modprobe.d/usb.conf': 'install usb-storage /bin/false\n' };
  assert.deepEqual(await evaluate(t, files, 'usb-storage'), {
    result: false,
    evidence: 'usb-storage is loaded (/proc/modules:2: usb_storage 81920 0 - Live 0x0000000000000000)',
  });
});

test('a module that exists for this kernel and is not denied can be loaded', async (t) => {
  assert.deepEqual(await evaluate(t, BASE, 'cramfs'), {
    result: false,
    evidence: `cramfs can be loaded: available for kernel ${RELEASE}, and no install or blacklist line in /etc/modprobe.d, /usr/local/lib/modprobe.d, /usr/lib/modprobe.d, /lib/modprobe.d`,
  });
});

test('a module not built for the running kernel is disabled; a built-in one never is', async (t) => {
  assert.deepEqual(await evaluate(t, BASE, 'hfsplus'), {
    result: true,
    evidence: `hfsplus is not loaded and not built for kernel ${RELEASE} (not in /lib/modules/${RELEASE}/modules.dep)`,
  });
  assert.deepEqual(await evaluate(t, { ...BASE, '/etc/modprobe.d/vfat.conf': 'install vfat /bin/false\n' }, 'vfat'), {
    result: false,
    evidence: `vfat is built into kernel ${RELEASE} (/lib/modules/${RELEASE}/modules.builtin)`,
  });
  const noModules = { '/proc/sys/kernel/osrelease': `${RELEASE}\n`, '/proc/modules': '' };
  assert.equal((await evaluate(t, noModules, 'cramfs')).evidence, `cramfs is not loaded and no /lib/modules/${RELEASE}`);
});

test('without a kernel release the module counts as available', async (t) => {
  assert.equal((await evaluate(t, { '/proc/modules': '' }, 'cramfs')).result, false);
  assert.equal(KernelModuleRuleSchema.safeParse({ kernel_module: 'a b', disabled: true }).success, false);
});
