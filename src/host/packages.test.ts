import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { collectDpkgPackages, countInstalledDpkgPackages } from './packages.js';
import { makeFixtureTree, removeFixtureTree } from './fixture-tree.js';

// Overridable so the skip path can be exercised, and so CI can point elsewhere.
// ../shared/realworld beside the repository (how CI lays it out), unless told otherwise.
const REALWORLD = process.env.BULWARK_REALWORLD_DPKG_DIR ?? fileURLToPath(new URL('../../../shared/realworld/dpkg-status', import.meta.url));

const STATUS = `Package: adduser
Status: install ok installed
Priority: important
Version: 3.134
Description: add and remove users and groups
 This package includes the 'adduser' and 'deluser' commands.
 .
 Status: install ok installed (a continuation line, not a field)

Package: old-kernel
Status: deinstall ok config-files
Version: 5.10.0-1

Package: held
Status: hold ok installed
Version: 1.0

Package: going
Status: deinstall ok installed
Version: 2.0

Package: broken
Status: install reinstreq half-installed
Version: 3.0

Package: unpacked-only
Status: install ok unpacked

Package: not-installed
Status: purge ok not-installed
\t
package: lowercase-field-name
status: install ok installed
Version: 4.0


Package: no-trailing-newline
Status: install ok installed`;

test('countInstalledDpkgPackages counts stanzas whose package state is installed', () => {
  // adduser, held, going, lowercase-field-name, no-trailing-newline
  assert.equal(countInstalledDpkgPackages(STATUS), 5);
});

test('countInstalledDpkgPackages: empty file, no Status field, CRLF', () => {
  assert.equal(countInstalledDpkgPackages(''), 0);
  assert.equal(countInstalledDpkgPackages('Package: a\nVersion: 1\n'), 0);
  assert.equal(countInstalledDpkgPackages('Package: a\r\nStatus: install ok installed\r\n\r\nPackage: b\r\nStatus: install ok installed\r\n'), 2);
});

test('collectDpkgPackages is absent when there is no dpkg database', async (t) => {
  const root = await makeFixtureTree({ '/var/lib/dpkg/status': STATUS });
  const rpmHost = await makeFixtureTree({ '/etc/os-release': 'ID=fedora\n' });
  t.after(() => Promise.all([root, rpmHost].map(removeFixtureTree)));
  assert.deepEqual(await collectDpkgPackages(root), { manager: 'dpkg', count: 5 });
  assert.equal(await collectDpkgPackages(rpmHost), undefined);
});

for (const [file, expectedAtLeast] of [
  ['debian12-bookworm-python-slim.status', 100],
  ['osv-scalibr_valid.status', 1],
] as const) {
  test(`countInstalledDpkgPackages agrees with a plain count on real-world ${file}`, async (t) => {
    const path = `${REALWORLD}/${file}`;
    if (!existsSync(path)) {
      t.skip(`${path} is not present on this machine`);
      return;
    }
    const text = await readFile(path, 'utf8');
    // Independent count: every stanza of these files has exactly one Status line.
    const expected = text.match(/^Status: install ok installed$/gm)?.length ?? 0;
    assert.ok(expected >= expectedAtLeast, `expected at least ${expectedAtLeast} installed packages, found ${expected}`);
    assert.equal(countInstalledDpkgPackages(text), expected);
    // A temp tree, not a symlink: an absolute link is resolved inside the root, as on a mounted image.
    const root = await makeFixtureTree({ '/var/lib/dpkg/status': text });
    t.after(() => removeFixtureTree(root));
    assert.deepEqual(await collectDpkgPackages(root), { manager: 'dpkg', count: expected });
  });
}
