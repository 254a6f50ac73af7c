import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectCpuCount, countProcessors } from './cpu-count.js';
import { makeFixtureTree, removeFixtureTree } from './fixture-tree.js';

const X86 = `processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) CPU
flags\t\t: fpu vme de pse

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) CPU

`;

test('countProcessors counts x86 processor stanzas', () => {
  assert.equal(countProcessors(X86), 2);
});

test('countProcessors counts s390x lines and ignores the "# processors" summary', () => {
  const s390 = 'vendor_id       : IBM/S390\n# processors    : 2\nbogomips per cpu: 3241.00\nprocessor 0: version = FF\nprocessor 1: version = FF\n';
  assert.equal(countProcessors(s390), 2);
});

test('countProcessors ignores 32-bit ARM\'s "Processor" model line', () => {
  const arm = 'Processor\t: ARMv7 Processor rev 4 (v7l)\nprocessor\t: 0\nBogoMIPS\t: 38.40\n\nprocessor\t: 1\n';
  assert.equal(countProcessors(arm), 2);
});

test('countProcessors is undefined when nothing can be counted', () => {
  assert.equal(countProcessors(''), undefined);
});

test('collectCpuCount reads /proc/cpuinfo under the root', async (t) => {
  const root = await makeFixtureTree({ '/proc/cpuinfo': X86 });
  const empty = await makeFixtureTree({});
  t.after(() => Promise.all([root, empty].map(removeFixtureTree)));
  assert.equal(await collectCpuCount(root), 2);
  assert.equal(await collectCpuCount(empty), undefined);
});
