import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDpkgStatus } from '../../host/dpkg-status.js';
import type { DpkgPackage } from '../../host/dpkg-status.js';
import { indexAdvisories } from './advisory.js';
import type { Advisory, AffectedRange } from './advisory.js';
import { parseDebianTracker } from './debian-tracker.js';
import { matchVulnerabilities } from './match.js';
import { parseOsvRecords } from './osv.js';
import { readRealworld } from './realworld-files.js';

const pkg = (name: string, version: string, source = name, sourceVersion = version): DpkgPackage => ({ name, version, source, sourceVersion });

function advisory(id: string, affected: AffectedRange[], extra: Partial<Advisory> = {}): Advisory {
  return { id, aliases: [], summary: `${id} summary`, severity: 'medium', references: [], origin: 'debian-tracker', affected, ...extra };
}

const source = (pkgName: string, release: string | undefined, bounds: Partial<AffectedRange> = {}): AffectedRange => ({
  ...(release === undefined ? {} : { release }),
  package: pkgName,
  packageKind: 'source',
  ...bounds,
});

// A node on bookworm.
const PACKAGES: DpkgPackage[] = [
  pkg('libc6', '2.36-9+deb12u4', 'glibc'),
  pkg('openssl', '3.0.11-1~deb12u1'),
  pkg('libssl3', '3.0.11-1~deb12u1', 'openssl'),
  // The binary has an epoch its source lacks (as util-linux's do).
  pkg('bsdutils', '1:2.38.1-5+deb12u1', 'util-linux', '2.38.1-5+deb12u1'),
  // A binNMU: the binary is +b1, the source is not.
  pkg('libfoo1', '1.0-1+b1', 'foo', '1.0-1'),
  pkg('tar', '1.34+dfsg-1.2+deb12u1'),
  pkg('sudo', '1.9.13p3-1+deb12u1'),
  pkg('apparmor', '3.0.8-3'),
  pkg('openssh-client', '1:9.2p1-2+deb12u2', 'openssh'),
];

const ADVISORIES: Advisory[] = [
  // Backported fix: bookworm's own fix is older than the installed package, though sid's (2.37-12) is newer.
  advisory('CVE-2023-4911', [
    source('glibc', 'bookworm', { fixed: '2.36-9+deb12u3' }),
    source('glibc', 'sid', { fixed: '2.37-12' }),
    source('glibc', 'bullseye', { notAffected: true }),
  ]),
  // The same problem from both sources: reported once, under the DSA that names the CVE.
  advisory('DSA-5532-1', [source('openssl', 'bookworm', { fixed: '3.0.11-1~deb12u2' })], {
    origin: 'osv',
    aliases: ['CVE-2023-5363'],
    summary: 'openssl - security update',
    severity: 'high',
    references: ['https://www.debian.org/security/2023/dsa-5532'],
  }),
  advisory('CVE-2023-5363', [source('openssl', 'bookworm', { fixed: '3.0.11-1~deb12u2' })], {
    references: ['https://security-tracker.debian.org/tracker/CVE-2023-5363'],
  }),
  // Compared with the source version: the binary's epoch must not hide it.
  advisory('CVE-2024-28085', [source('util-linux', 'bookworm', { fixed: '2.38.1-5+deb12u2' })], { severity: 'low', scope: 'local' }),
  // A binary range compares the binary version (+b1 < +b2).
  advisory('TEST-2024-0001', [{ package: 'libfoo1', packageKind: 'binary', fixed: '1.0-1+b2' }], { origin: 'osv', summary: 'first line\nsecond line' }),
  // Open, no fix.
  advisory('CVE-2005-2541', [source('tar', 'bookworm'), source('tar', 'bullseye')], { severity: 'info' }),
  // Introduced after the installed version.
  advisory('DSA-9000-1', [source('sudo', 'bookworm', { introduced: '1.9.14-1', fixed: '1.9.15-1' })], { origin: 'osv' }),
  // Never affected on bookworm: the release's word beats the release-less range.
  advisory('CVE-2014-1424', [source('apparmor', 'bookworm', { notAffected: true }), source('apparmor', undefined)]),
  // Epochs: 1:9.2p1 is newer than a fix written without one, older than bookworm's own fix.
  advisory('OSV-EPOCHLESS-1', [source('openssh', undefined, { fixed: '9.9p1-1' })], { origin: 'osv' }),
  advisory('CVE-2024-6387', [source('openssh', 'bookworm', { fixed: '1:9.2p1-2+deb12u3' })], { severity: 'high' }),
];

test('matchVulnerabilities on bookworm: backports, open issues, epochs, binNMUs, binary ranges, duplicates', () => {
  const findings = matchVulnerabilities({ packages: PACKAGES, release: 'bookworm', advisories: indexAdvisories(ADVISORIES) });
  assert.deepEqual(
    findings.map((f) => [f.location, f.ruleId, f.severity, f.details?.fixed]),
    [
      ['bsdutils', 'CVE-2024-28085', 'low', '2.38.1-5+deb12u2'],
      ['libfoo1', 'TEST-2024-0001', 'medium', '1.0-1+b2'],
      ['libssl3', 'DSA-5532-1', 'high', '3.0.11-1~deb12u2'],
      ['openssh-client', 'CVE-2024-6387', 'high', '1:9.2p1-2+deb12u3'],
      ['openssl', 'DSA-5532-1', 'high', '3.0.11-1~deb12u2'],
      ['tar', 'CVE-2005-2541', 'info', 'none'],
    ],
  );
  assert.deepEqual(findings.find((f) => f.location === 'openssl'), {
    kind: 'vulnerability',
    key: 'vulnerability:DSA-5532-1/openssl',
    ruleId: 'DSA-5532-1',
    source: 'osv',
    title: 'DSA-5532-1 in openssl: openssl - security update',
    severity: 'high',
    status: 'fail',
    evidence: 'openssl 3.0.11-1~deb12u1 (source openssl 3.0.11-1~deb12u1) < fixed 3.0.11-1~deb12u2 for bookworm (DSA-5532-1)',
    remediation: 'Upgrade openssl to 3.0.11-1~deb12u2 or later.',
    references: ['https://www.debian.org/security/2023/dsa-5532', 'https://security-tracker.debian.org/tracker/CVE-2023-5363'],
    location: 'openssl',
    details: {
      package: 'openssl',
      installed: '3.0.11-1~deb12u1',
      fixed: '3.0.11-1~deb12u2',
      source: 'openssl',
      sourceVersion: '3.0.11-1~deb12u1',
      aliases: ['CVE-2023-5363'],
      release: 'bookworm',
    },
  });
  const byPackage = new Map(findings.map((f) => [f.location, f]));
  assert.equal(byPackage.get('libssl3')?.evidence, 'libssl3 3.0.11-1~deb12u1 (source openssl 3.0.11-1~deb12u1) < fixed 3.0.11-1~deb12u2 for bookworm (DSA-5532-1)');
  assert.equal(byPackage.get('libssl3')?.remediation, 'Upgrade libssl3 to a version built from openssl 3.0.11-1~deb12u2 or later.');
  assert.equal(byPackage.get('bsdutils')?.evidence, 'bsdutils 1:2.38.1-5+deb12u1 (source util-linux 2.38.1-5+deb12u1) < fixed 2.38.1-5+deb12u2 for bookworm (CVE-2024-28085)');
  assert.equal(byPackage.get('bsdutils')?.details?.scope, 'local');
  assert.equal(byPackage.get('libfoo1')?.evidence, 'libfoo1 1.0-1+b1 < fixed 1.0-1+b2 (TEST-2024-0001)');
  assert.equal(byPackage.get('libfoo1')?.title, 'TEST-2024-0001 in libfoo1: first line');
  assert.equal(byPackage.get('tar')?.evidence, 'tar 1.34+dfsg-1.2+deb12u1 (source tar 1.34+dfsg-1.2+deb12u1) no fix for bookworm yet (CVE-2005-2541)');
  assert.equal(byPackage.get('tar')?.remediation, 'No fixed version of tar is known for bookworm; follow the advisory for mitigations.');
});

test('matchVulnerabilities: the release decides which ranges apply', () => {
  const lookup = indexAdvisories(ADVISORIES);
  // On bullseye glibc was never affected, tar is open, and apparmor has only the release-less range.
  const bullseye = matchVulnerabilities({ packages: PACKAGES, release: 'bullseye', advisories: lookup });
  assert.deepEqual(
    bullseye.map((f) => [f.location, f.ruleId]),
    [
      ['apparmor', 'CVE-2014-1424'],
      ['libfoo1', 'TEST-2024-0001'],
      ['tar', 'CVE-2005-2541'],
    ],
  );
  assert.equal(bullseye[0]?.evidence, 'apparmor 3.0.8-3 (source apparmor 3.0.8-3) no fix yet (CVE-2014-1424)');
  // Unknown release: only release-less ranges apply.
  const unknown = matchVulnerabilities({ packages: PACKAGES, advisories: lookup });
  assert.deepEqual(
    unknown.map((f) => [f.location, f.ruleId]),
    [
      ['apparmor', 'CVE-2014-1424'],
      ['libfoo1', 'TEST-2024-0001'],
    ],
  );
  assert.equal(unknown[0]?.details?.release, undefined);
});

test('matchVulnerabilities: range bounds are exact (introduced inclusive, fixed exclusive, last affected inclusive)', () => {
  const ranges = [source('foo', undefined, { introduced: '1.0-1', fixed: '2.0-1' }), source('bar', undefined, { introduced: '1:1.0', lastAffected: '1:1.5' })];
  const lookup = indexAdvisories([advisory('TEST-1', ranges)]);
  const affected = (p: DpkgPackage): boolean => matchVulnerabilities({ packages: [p], advisories: lookup }).length === 1;
  assert.equal(affected(pkg('foo', '1.0-1')), true);
  assert.equal(affected(pkg('foo', '1.0-0.1')), false);
  assert.equal(affected(pkg('foo', '2.0-1~rc1')), true);
  assert.equal(affected(pkg('foo', '2.0-1')), false);
  assert.equal(affected(pkg('bar', '1:1.5')), true);
  assert.equal(affected(pkg('bar', '1:1.5-0')), true);
  assert.equal(affected(pkg('bar', '1:1.5-1')), false);
  assert.equal(affected(pkg('bar', '1.9')), false);
  assert.equal(
    matchVulnerabilities({ packages: [pkg('bar', '1:1.2')], advisories: lookup })[0]?.evidence,
    'bar 1:1.2 (source bar 1:1.2) >= introduced 1:1.0 and <= last affected 1:1.5 (TEST-1)',
  );
});

test('matchVulnerabilities: duplicates prefer the advisory with a fix and keep every id', () => {
  const tracker = advisory('CVE-2024-9', [source('foo', 'bookworm', { fixed: '1.0-2' })], { severity: 'low' });
  const osvOpen = advisory('DEBIAN-CVE-2024-9', [source('foo', undefined)], { origin: 'osv', aliases: ['CVE-2024-9', 'GHSA-aaaa-bbbb-cccc'], severity: 'high' });
  const unrelated = advisory('CVE-2024-10', [source('foo', 'bookworm')], { aliases: ['GHSA-aaaa-bbbb-cccc'] });
  const findings = matchVulnerabilities({ packages: [pkg('foo', '1.0-1')], release: 'bookworm', advisories: indexAdvisories([osvOpen, tracker, unrelated]) });
  // Sharing an alias without naming each other is not enough to merge.
  assert.deepEqual(findings.map((f) => f.ruleId), ['CVE-2024-10', 'CVE-2024-9']);
  const merged = findings[1];
  assert.equal(merged?.source, 'debian-tracker');
  assert.equal(merged?.details?.fixed, '1.0-2');
  assert.deepEqual(merged?.details?.aliases, ['DEBIAN-CVE-2024-9', 'GHSA-aaaa-bbbb-cccc']);
  // The gravest assessment of the merged problem stands.
  assert.equal(merged?.severity, 'high');
});

test('matchVulnerabilities: one lookup per name, each advisory once per package; a damaged version is skipped', () => {
  const asked: string[] = [];
  const shared = advisory('CVE-2024-11', [source('foo', undefined), { package: 'libfoo1', packageKind: 'binary' }]);
  const findings = matchVulnerabilities({
    packages: [pkg('libfoo1', '1.0-1', 'foo'), pkg('broken', 'not-a-version')],
    advisories: (name) => {
      asked.push(name);
      return name === 'broken' ? [advisory('CVE-2024-12', [source('broken', undefined)])] : [shared];
    },
  });
  assert.deepEqual(asked, ['foo', 'libfoo1']);
  assert.deepEqual(findings.map((f) => f.key), ['vulnerability:CVE-2024-11/libfoo1']);
});

/**
 * An excerpt in the tracker's JSON format for packages of the real Debian 12
 * image. The fixed versions are those of the Debian advisories named; the
 * expected findings below were worked out by hand from the status file's
 * versions (see each line), not from the matcher's output.
 */
const BOOKWORM_EXCERPT = {
  glibc: {
    // DSA-5514-1 ("Looney Tunables"); bullseye's glibc 2.31 predates the bug.
    'CVE-2023-4911': {
      description: 'A buffer overflow was discovered in the GNU C Library\'s dynamic loader ld.so while processing the GLIBC_TUNABLES environment variable.',
      scope: 'local',
      releases: {
        bookworm: { status: 'resolved', fixed_version: '2.36-9+deb12u3', urgency: 'high' },
        bullseye: { status: 'resolved', fixed_version: '0', urgency: 'high' },
        sid: { status: 'resolved', fixed_version: '2.37-12', urgency: 'high' },
      },
    },
  },
  openssh: {
    // DSA-5724-1 ("regreSSHion").
    'CVE-2024-6387': {
      description: 'A signal handler race condition was found in sshd.',
      scope: 'remote',
      releases: { bookworm: { status: 'resolved', fixed_version: '1:9.2p1-2+deb12u3', urgency: 'not yet assigned' } },
    },
  },
  'xz-utils': {
    // The backdoor never reached bookworm.
    'CVE-2024-3094': {
      description: 'Malicious code was discovered in the upstream tarballs of xz, starting with version 5.6.0.',
      scope: 'remote',
      releases: {
        bookworm: { status: 'resolved', fixed_version: '0', urgency: 'not yet assigned' },
        sid: { status: 'resolved', fixed_version: '5.6.1+really5.4.5-1', urgency: 'not yet assigned' },
      },
    },
  },
  apt: {
    'CVE-2011-3374': {
      description: 'It was found that apt-key in apt, all versions, do not correctly validate gpg keys with the master keyring.',
      scope: 'remote',
      releases: { bookworm: { status: 'open', urgency: 'unimportant' }, bullseye: { status: 'open', urgency: 'unimportant' } },
    },
  },
  tar: {
    'CVE-2005-2541': {
      description: 'Tar 1.15.1 does not properly warn the user when extracting setuid or setgid files.',
      scope: 'local',
      releases: { bookworm: { status: 'open', urgency: 'unimportant' } },
    },
  },
  openssl: {
    // Fixed in the 12.10 point release.
    'CVE-2024-13176': {
      description: 'A timing side-channel which could potentially allow recovering the private key exists in the ECDSA signature computation.',
      scope: 'remote',
      releases: { bookworm: { status: 'resolved', fixed_version: '3.0.16-1~deb12u1', urgency: 'not yet assigned' } },
    },
  },
  'util-linux': {
    // DSA-5650-1 ("WallEscape").
    'CVE-2024-28085': {
      description: 'wall in util-linux through 2.40 does not filter escape sequences from command line arguments.',
      scope: 'local',
      releases: { bookworm: { status: 'resolved', fixed_version: '2.38.1-5+deb12u1', urgency: 'not yet assigned' } },
    },
  },
};

test('the real Debian 12 image against a tracker excerpt: exactly the expected findings', async (t) => {
  const text = await readRealworld(t, 'dpkg-status/debian12-bookworm-python-slim.status');
  if (text === undefined) return;
  const packages = parseDpkgStatus(text);
  const advisories = parseDebianTracker(BOOKWORM_EXCERPT, 'excerpt.json');
  const findings = matchVulnerabilities({ packages, release: 'bookworm', advisories: indexAdvisories(advisories) });
  // By hand, from the status file:
  //   libc6, libc-bin        2.36-9+deb12u9 >= 2.36-9+deb12u3                  not reported (backported fix)
  //   openssh-client         1:9.2p1-2+deb12u5 >= 1:9.2p1-2+deb12u3            not reported
  //   liblzma5 (xz-utils)    5.4.1-0.2, bookworm never affected               not reported (sid's fix is newer)
  //   8 util-linux binaries  source 2.38.1-5+deb12u3 >= 2.38.1-5+deb12u1       not reported
  //   apt, libapt-pkg6.0     2.6.1, open                                      reported, info, no fix
  //   tar                    1.34+dfsg-1.2+deb12u1, open                      reported, info, no fix
  //   openssl, libssl3       3.0.15-1~deb12u1 < 3.0.16-1~deb12u1               reported, medium
  assert.deepEqual(
    findings.map((f) => [f.key, f.severity, f.details?.installed, f.details?.fixed]),
    [
      ['vulnerability:CVE-2011-3374/apt', 'info', '2.6.1', 'none'],
      ['vulnerability:CVE-2011-3374/libapt-pkg6.0', 'info', '2.6.1', 'none'],
      ['vulnerability:CVE-2024-13176/libssl3', 'medium', '3.0.15-1~deb12u1', '3.0.16-1~deb12u1'],
      ['vulnerability:CVE-2024-13176/openssl', 'medium', '3.0.15-1~deb12u1', '3.0.16-1~deb12u1'],
      ['vulnerability:CVE-2005-2541/tar', 'info', '1.34+dfsg-1.2+deb12u1', 'none'],
    ],
  );
  assert.equal(
    findings.find((f) => f.location === 'libssl3')?.evidence,
    'libssl3 3.0.15-1~deb12u1 (source openssl 3.0.15-1~deb12u1) < fixed 3.0.16-1~deb12u1 for bookworm (CVE-2024-13176)',
  );
  assert.equal(findings.find((f) => f.location === 'libapt-pkg6.0')?.evidence, 'libapt-pkg6.0 2.6.1 (source apt 2.6.1) no fix for bookworm yet (CVE-2011-3374)');
  // Without the release the tracker's per-release data says nothing.
  assert.deepEqual(matchVulnerabilities({ packages, advisories: indexAdvisories(advisories) }), []);
});

test('the real stretch-era OSV records against packages they name', async (t) => {
  const text = await readRealworld(t, 'osv-debian/DLA-3008-1.json');
  if (text === undefined) return;
  const lookup = indexAdvisories(parseOsvRecords(JSON.parse(text), 'DLA-3008-1.json'));
  const packages = [pkg('libssl1.1', '1.1.0l-1~deb9u5', 'openssl'), pkg('openssl', '1.1.0l-1~deb9u6')];
  const findings = matchVulnerabilities({ packages, release: 'stretch', advisories: lookup });
  assert.deepEqual(findings.map((f) => f.key), ['vulnerability:DLA-3008-1/libssl1.1']);
  assert.deepEqual(findings[0]?.details?.aliases, ['CVE-2022-1292', 'DEBIAN-CVE-2022-1292']);
  assert.deepEqual(matchVulnerabilities({ packages, release: 'bookworm', advisories: lookup }), []);
});

test('matching 3,000 packages against 100,000 advisory ranges', (t) => {
  const packages = Array.from({ length: 3000 }, (_, i) => pkg(`lib${i}-1`, `1.${i % 10}-1`, `src${i}`));
  // 50,000 advisories of two ranges each; a quarter name packages that are not installed.
  const advisories = Array.from({ length: 50000 }, (_, j) =>
    advisory(`CVE-2024-${j}`, [source(`src${j % 4000}`, 'bookworm', { fixed: '1.5-1' }), source(`src${j % 4000}`, 'bullseye', { fixed: '1.0-1' })]),
  );
  // Independent count: installed (index < 3000) with a version below 1.5-1.
  let expected = 0;
  for (let j = 0; j < 50000; j++) if (j % 4000 < 3000 && (j % 4000) % 10 < 5) expected++;
  const started = performance.now();
  const lookup = indexAdvisories(advisories);
  const indexed = performance.now();
  const findings = matchVulnerabilities({ packages, release: 'bookworm', advisories: lookup });
  const done = performance.now();
  t.diagnostic(`index ${Math.round(indexed - started)} ms, match ${Math.round(done - indexed)} ms, ${findings.length} findings`);
  assert.equal(findings.length, expected);
});
