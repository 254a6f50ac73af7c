import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BulwarkError } from '../../core/errors.js';
import { parseOsvRecords, readOsvRecords } from './osv.js';
import { listRealworld, readRealworld } from './realworld-files.js';

const REMEDY = 'correct or remove this record (OSV schema: https://ossf.github.io/osv-schema/)';

function debianRecord(id: string, affected: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, summary: `${id} summary`, affected, ...extra };
}

function entry(ecosystem: string, name: string, events: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { package: { ecosystem, name }, ranges: [{ type: 'ECOSYSTEM', events }], ...extra };
}

function rejects(json: unknown, message: string): void {
  assert.throws(
    () => parseOsvRecords(json, 'feed.json'),
    (err: unknown) => err instanceof BulwarkError && err.code === 'INVALID_ADVISORIES' && err.message === message,
  );
}

test('real OSV Debian records: five advisories, the empty DLA skipped', async (t) => {
  const files = await listRealworld(t, 'osv-debian', '.json');
  if (!files) return;
  assert.deepEqual(files, ['DLA-3008-1.json', 'DLA-3012-1.json', 'DLA-3022-1.json', 'DLA-3051-1.json', 'DLA-3623-1.json', 'DSA-3029-1.json']);
  let advisories = 0;
  let skipped = 0;
  for (const file of files) {
    const text = await readRealworld(t, `osv-debian/${file}`);
    if (text === undefined) return;
    const read = readOsvRecords(JSON.parse(text), file);
    advisories += read.advisories.length;
    skipped += read.skipped;
    if (file === 'DLA-3623-1.json') assert.deepEqual(read, { advisories: [], skipped: 1 });
  }
  assert.equal(advisories, 5);
  assert.equal(skipped, 1);
});

test('real DLA-3008-1: stretch, source openssl, fixed 1.1.0l-1~deb9u6, upstream ids as aliases', async (t) => {
  const text = await readRealworld(t, 'osv-debian/DLA-3008-1.json');
  if (text === undefined) return;
  // Every listed version sorts below the fix, so the range alone covers them.
  assert.deepEqual(parseOsvRecords(JSON.parse(text), 'DLA-3008-1.json'), [
    {
      id: 'DLA-3008-1',
      aliases: ['CVE-2022-1292', 'DEBIAN-CVE-2022-1292'],
      summary: 'openssl - security update',
      severity: 'medium',
      references: [],
      origin: 'osv',
      affected: [{ package: 'openssl', packageKind: 'source', release: 'stretch', fixed: '1.1.0l-1~deb9u6' }],
      published: '2022-05-14T00:00:00Z',
      modified: '2026-03-09T01:23:33.375630Z',
    },
  ]);
});

test('real DSA-3029-1: wheezy, aliases and references', async (t) => {
  const text = await readRealworld(t, 'osv-debian/DSA-3029-1.json');
  if (text === undefined) return;
  const [dsa, ...rest] = parseOsvRecords(JSON.parse(text), 'DSA-3029-1.json');
  assert.equal(rest.length, 0);
  assert.equal(dsa?.id, 'DSA-3029-1');
  assert.deepEqual(dsa?.aliases, ['CVE-2014-3616']);
  assert.deepEqual(dsa?.references, ['https://www.debian.org/security/2014/dsa-3029']);
  assert.deepEqual(dsa?.affected, [{ package: 'nginx', packageKind: 'source', release: 'wheezy', fixed: '1.2.1-2.2+wheezy3' }]);
});

test('containers: one record, an array, {vulns}; non-Debian ecosystems and withdrawn records are skipped and counted', () => {
  const debian = debianRecord('DSA-1-1', [entry('Debian:12', 'foo', [{ introduced: '0' }, { fixed: '1.0-2' }]), entry('npm', 'foo', [{ introduced: '0' }])]);
  const pypi = debianRecord('PYSEC-1', [entry('PyPI', 'foo', [{ introduced: '0' }])]);
  const withdrawn = debianRecord('DSA-2-1', [entry('Debian:12', 'bar', [{ introduced: '0' }])], { withdrawn: '2024-01-01T00:00:00Z' });
  const unknownRelease = debianRecord('DSA-3-1', [entry('Debian:99', 'baz', [{ introduced: '0' }])]);
  const expected = [{ package: 'foo', packageKind: 'source', release: 'bookworm', fixed: '1.0-2' }];
  assert.deepEqual(readOsvRecords(debian, 'one.json').advisories[0]?.affected, expected);
  const all = readOsvRecords([debian, pypi, withdrawn, unknownRelease], 'list.json');
  assert.deepEqual(all.advisories.map((a) => a.id), ['DSA-1-1']);
  assert.equal(all.skipped, 3);
  assert.deepEqual(readOsvRecords({ vulns: [pypi, debian] }, 'query.json').advisories.map((a) => a.affected), [expected]);
  assert.deepEqual(readOsvRecords([], 'empty.json'), { advisories: [], skipped: 0 });
});

test('events are sorted and walked into intervals; last_affected and listed versions are inclusive', () => {
  const [advisory] = parseOsvRecords(
    debianRecord('DEBIAN-CVE-2024-0001', [
      entry('Debian', 'foo', [{ last_affected: '2.2-1' }, { fixed: '1.5-1' }, { introduced: '2.0-1' }, { introduced: '0' }, { limit: '9' }], {
        // 1.2-1 lies in [0, 1.5-1); 1.7-1 lies between the intervals.
        versions: ['1.2-1', '1.7-1'],
      }),
      { package: { ecosystem: 'Debian:11', name: 'foo' }, versions: ['1:1.0-1'] },
      { package: { ecosystem: 'Debian:11', name: 'foo' }, ranges: [{ type: 'GIT', repo: 'https://example.org/foo.git', events: [{ introduced: 'abc' }] }] },
    ]),
    'feed.json',
  );
  assert.deepEqual(advisory?.affected, [
    { package: 'foo', packageKind: 'source', fixed: '1.5-1' },
    { package: 'foo', packageKind: 'source', introduced: '2.0-1', lastAffected: '2.2-1' },
    { package: 'foo', packageKind: 'source', introduced: '1.7-1', lastAffected: '1.7-1' },
    { package: 'foo', packageKind: 'source', release: 'bullseye', introduced: '1:1.0-1', lastAffected: '1:1.0-1' },
  ]);
  // An interval left open has no fix.
  const [open] = parseOsvRecords(debianRecord('DSA-9-1', [entry('Debian:12', 'foo', [{ introduced: '3.0-1' }])]), 'feed.json');
  assert.deepEqual(open?.affected, [{ package: 'foo', packageKind: 'source', release: 'bookworm', introduced: '3.0-1' }]);
});

test('severity: a CVSS v3 vector decides, else the per-release urgency, else medium', () => {
  const cvss = { severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }] };
  const urgent = (ecosystem: string, urgency: string): Record<string, unknown> =>
    entry(ecosystem, 'foo', [{ introduced: '0' }], { ecosystem_specific: { urgency } });
  const [scored] = parseOsvRecords(debianRecord('DSA-1-1', [urgent('Debian:12', 'low')], cvss), 'f.json');
  assert.equal(scored?.severity, 'critical');
  assert.equal(scored?.affected[0]?.severity, undefined);
  const [byUrgency] = parseOsvRecords(debianRecord('DSA-2-1', [urgent('Debian:12', 'high'), urgent('Debian:11', 'low'), urgent('Debian:10', 'not yet assigned')]), 'f.json');
  assert.equal(byUrgency?.severity, 'high');
  assert.deepEqual(byUrgency?.affected.map((r) => [r.release, r.severity]), [
    ['bookworm', undefined],
    ['bullseye', 'low'],
    ['buster', undefined],
  ]);
  const [v4only] = parseOsvRecords(
    debianRecord('DSA-3-1', [entry('Debian:12', 'foo', [{ introduced: '0' }])], { severity: [{ type: 'CVSS_V4', score: 'CVSS:4.0/AV:N' }] }),
    'f.json',
  );
  assert.equal(v4only?.severity, 'medium');
});

test('summary falls back to the first line of details; own id is not an alias', () => {
  const [advisory] = parseOsvRecords(
    { id: 'DSA-1-1', details: '\n  First line.\nSecond line.', aliases: ['DSA-1-1', 'CVE-2024-1'], upstream: ['CVE-2024-1'], affected: [entry('Debian:12', 'foo', [{ introduced: '0' }])] },
    'f.json',
  );
  assert.equal(advisory?.summary, 'First line.');
  assert.deepEqual(advisory?.aliases, ['CVE-2024-1']);
});

test('malformed OSV records: one line naming file, record and field', () => {
  rejects(42, `feed.json: expected an OSV record, an array of them, or {"vulns": [...]}; ${REMEDY}`);
  rejects({ vulns: {} }, `feed.json: vulns: expected an array, got an object; ${REMEDY}`);
  rejects([{ summary: 'x' }], `feed.json: record #1, id: expected a string, got undefined; ${REMEDY}`);
  rejects({ id: 'DSA 1' }, `feed.json: record #1, id: "DSA 1" is not an advisory id (letters, digits, . _ : - and at most 128 characters); ${REMEDY}`);
  rejects(
    debianRecord('DSA-1-1', [entry('Debian:12', 'foo', [{ introduced: '0' }, { fixed: '1.0 -1' }])]),
    `feed.json: record DSA-1-1, affected[0].ranges[0].events[1].fixed: "1.0 -1" is not a Debian version (version string has embedded spaces); ${REMEDY}`,
  );
  rejects(
    debianRecord('DSA-1-1', [entry('Debian:12', 'foo', [{ introduced: '0', fixed: '1.0-1' }])]),
    `feed.json: record DSA-1-1, affected[0].ranges[0].events[0]: expected exactly one of introduced, fixed, last_affected, limit; ${REMEDY}`,
  );
  rejects(
    debianRecord('DSA-1-1', [entry('Debian:12', 'OpenSSL', [{ introduced: '0' }])]),
    `feed.json: record DSA-1-1, affected[0].package.name: "OpenSSL" is not a Debian package name; ${REMEDY}`,
  );
  rejects(
    debianRecord('DSA-1-1', [{ package: { ecosystem: 'Debian:12', name: 'foo' }, versions: ['latest'] }]),
    `feed.json: record DSA-1-1, affected[0].versions[0]: "latest" is not a Debian version (version number does not start with digit); ${REMEDY}`,
  );
  rejects(debianRecord('DSA-1-1', [], { aliases: 'CVE-1' }), `feed.json: record DSA-1-1, aliases: expected an array, got string "CVE-1"; ${REMEDY}`);
});
