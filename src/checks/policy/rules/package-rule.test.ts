import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeFixtureTree, removeFixtureTree } from '../../../host/fixture-tree.js';
import { createRuleContext } from '../context.js';
import { createRootedHost } from '../rooted-host.js';
import { PACKAGE_RULE, PackageRuleSchema } from './package-rule.js';
import type { RuleOutcome } from './types.js';

let root = '';

function run(rule: unknown, at = root): Promise<RuleOutcome> {
  return PACKAGE_RULE.evaluate(PackageRuleSchema.parse(rule), createRuleContext(createRootedHost(at), 0));
}

const STATUS = `Package: openssh-server
Status: install ok installed
Architecture: amd64
Version: 1:9.2p1-2+deb12u3

Package: telnet
Status: deinstall ok config-files
Architecture: amd64
Version: 0.17+2.4-2

Package: libc6
Status: hold ok installed
Architecture: amd64
Version: 2.36-9+deb12u7
`;

describe('package rule', () => {
  before(async () => {
    root = await makeFixtureTree({ '/var/lib/dpkg/status': STATUS });
  });
  after(() => removeFixtureTree(root));

  it('tells installed packages from removed ones (config files left are not installed)', async () => {
    assert.deepEqual(await run({ package: 'openssh-server', installed: true }), { result: true, evidence: 'openssh-server 1:9.2p1-2+deb12u3 is installed' });
    assert.deepEqual(await run({ package: 'telnet', installed: false }), { result: true, evidence: 'telnet is not installed' });
    assert.deepEqual(await run({ package: 'libc6:amd64', installed: false }), { result: false, evidence: 'libc6:amd64 2.36-9+deb12u7 is installed' });
    assert.deepEqual(await run({ package: 'nginx', installed: true }), { result: false, evidence: 'nginx is not installed' });
  });

  it('compares versions as dpkg does', async () => {
    assert.deepEqual(await run({ package: 'openssh-server', installed: true, version_min: '1:9.2p1-2+deb12u3' }), { result: true, evidence: 'openssh-server 1:9.2p1-2+deb12u3 is installed' });
    assert.deepEqual(await run({ package: 'openssh-server', installed: true, version_min: '1:9.2p1-2+deb12u10' }), {
      result: false,
      evidence: 'openssh-server 1:9.2p1-2+deb12u3 is installed (older than 1:9.2p1-2+deb12u10)',
    });
    assert.deepEqual(await run({ package: 'openssh-server', installed: true, version_min: '9.9' }), { result: true, evidence: 'openssh-server 1:9.2p1-2+deb12u3 is installed' });
  });

  it('is not applicable without a dpkg database', async () => {
    const empty = await makeFixtureTree({ '/etc/hostname': 'x\n' });
    try {
      assert.deepEqual(await run({ package: 'telnet', installed: false }, empty), { result: 'not_applicable', evidence: 'no dpkg database (/var/lib/dpkg/status does not exist)' });
    } finally {
      await removeFixtureTree(empty);
    }
  });

  it('refuses bad names and versions', () => {
    assert.equal(PackageRuleSchema.safeParse({ package: 'Bad Name', installed: true }).error?.issues[0]?.message, 'must be a Debian package name');
    assert.equal(PackageRuleSchema.safeParse({ package: 'x1', installed: true, version_min: '1 2' }).error?.issues[0]?.message, 'not a Debian version: version string has embedded spaces');
    assert.equal(PackageRuleSchema.safeParse({ package: 'x1', installed: false, version_min: '1' }).error?.issues[0]?.message, 'version_min needs installed: true');
  });
});
