import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseDpkgStatus } from './dpkg-status.js';
import type { DpkgPackage } from './dpkg-status.js';

// ../shared/realworld beside the repository; its files are read, never copied in.
const REALWORLD = fileURLToPath(new URL('../../../shared/realworld/dpkg-status', import.meta.url));

async function readStatus(t: TestContext, file: string): Promise<DpkgPackage[] | undefined> {
  const path = `${REALWORLD}/${file}`;
  if (!existsSync(path)) {
    t.skip(`${path} is not present on this machine`);
    return undefined;
  }
  return parseDpkgStatus(await readFile(path, 'utf8'));
}

function byName(packages: DpkgPackage[], name: string): DpkgPackage | undefined {
  return packages.find((p) => p.name === name);
}

test('parseDpkgStatus: source defaults to the binary, Source: with a version (binNMU), skipped stanzas', () => {
  const packages = parseDpkgStatus(
    [
      'Package: libfoo1\nStatus: install ok installed\nArchitecture: amd64\nSource: foo (1.0-1)\nVersion: 1.0-1+b2\n',
      'Package: foo-tools\nStatus: install ok installed\nSource: foo\nVersion: 1.0-1\n',
      'Package: bar\nStatus: install ok installed\nVersion: 2:3.0-1\n',
      'Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n',
      'Package: no-version\nStatus: install ok installed\n',
    ].join('\n'),
  );
  assert.deepEqual(packages, [
    { name: 'libfoo1', version: '1.0-1+b2', architecture: 'amd64', source: 'foo', sourceVersion: '1.0-1' },
    { name: 'foo-tools', version: '1.0-1', source: 'foo', sourceVersion: '1.0-1' },
    { name: 'bar', version: '2:3.0-1', source: 'bar', sourceVersion: '2:3.0-1' },
  ]);
});

test('parseDpkgStatus reads the real Debian 12 status file: 140 packages, exact sources', async (t) => {
  const packages = await readStatus(t, 'debian12-bookworm-python-slim.status');
  if (!packages) return;
  assert.equal(packages.length, 140);
  assert.equal(new Set(packages.map((p) => p.name)).size, 140);
  // Checked by hand against the stanzas.
  assert.deepEqual(byName(packages, 'adduser'), { name: 'adduser', version: '3.134', architecture: 'all', source: 'adduser', sourceVersion: '3.134' });
  assert.deepEqual(byName(packages, 'libssl3'), {
    name: 'libssl3',
    version: '3.0.15-1~deb12u1',
    architecture: 'amd64',
    source: 'openssl',
    sourceVersion: '3.0.15-1~deb12u1',
  });
  // binNMU: the binary carries +b7, the source does not.
  assert.deepEqual(byName(packages, 'bash'), { name: 'bash', version: '5.2.15-2+b7', architecture: 'amd64', source: 'bash', sourceVersion: '5.2.15-2' });
  // The binary has an epoch its source lacks.
  assert.deepEqual(byName(packages, 'bsdutils'), {
    name: 'bsdutils',
    version: '1:2.38.1-5+deb12u3',
    architecture: 'amd64',
    source: 'util-linux',
    sourceVersion: '2.38.1-5+deb12u3',
  });
  assert.deepEqual(byName(packages, 'login'), {
    name: 'login',
    version: '1:4.13+dfsg1-1+b1',
    architecture: 'amd64',
    source: 'shadow',
    sourceVersion: '1:4.13+dfsg1-1',
  });
  assert.deepEqual(byName(packages, 'libc6'), { name: 'libc6', version: '2.36-9+deb12u9', architecture: 'amd64', source: 'glibc', sourceVersion: '2.36-9+deb12u9' });
  assert.equal(packages.filter((p) => p.source === 'util-linux').length, 8);
});

test('parseDpkgStatus reads the real osv-scalibr status file', async (t) => {
  const packages = await readStatus(t, 'osv-scalibr_valid.status');
  if (!packages) return;
  assert.deepEqual(
    packages.map((p) => p.name),
    ['accountsservice', 'acl', 'adduser', 'admin-session', 'attr', 'libacl1', 'util-linux-extra'],
  );
  assert.deepEqual(byName(packages, 'util-linux-extra'), {
    name: 'util-linux-extra',
    version: '2.38.1-5+b1',
    architecture: 'amd64',
    source: 'util-linux',
    sourceVersion: '2.38.1-5',
  });
  assert.deepEqual(byName(packages, 'libacl1'), { name: 'libacl1', version: '2.3.1-3', architecture: 'amd64', source: 'acl', sourceVersion: '2.3.1-3' });
});
