import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BulwarkError } from '../../core/errors.js';
import { parseDebianTracker, readDebianTracker } from './debian-tracker.js';
import { readRealworld } from './realworld-files.js';

const REMEDY = 'give the tracker JSON as published at https://security-tracker.debian.org/tracker/data/json';

function rejects(json: unknown, message: string): void {
  assert.throws(
    () => parseDebianTracker(json, 'tracker.json'),
    (err: unknown) => err instanceof BulwarkError && err.code === 'INVALID_ADVISORIES' && err.message === message,
  );
}

test('real osv.dev tracker mock: three apparmor issues, never-affected releases, open ones', async (t) => {
  const text = await readRealworld(t, 'debian-tracker/osvdev_debian_security_tracker_mock.json');
  if (text === undefined) return;
  const read = readDebianTracker(JSON.parse(text), 'mock.json');
  assert.equal(read.skipped, 0);
  assert.deepEqual(read.advisories.map((a) => a.id), ['CVE-2014-1424', 'CVE-2016-1585', 'CVE-2017-6507']);
  const [never, open, old] = read.advisories;
  // fixed_version "0" in every release: no release was ever affected.
  assert.deepEqual(never?.affected, [
    { release: 'bookworm', package: 'apparmor', packageKind: 'source', notAffected: true },
    { release: 'bullseye', package: 'apparmor', packageKind: 'source', notAffected: true },
    { release: 'buster', package: 'apparmor', packageKind: 'source', notAffected: true },
    { release: 'sid', package: 'apparmor', packageKind: 'source', notAffected: true },
    { release: 'trixie', package: 'apparmor', packageKind: 'source', notAffected: true },
  ]);
  assert.equal(never?.severity, 'info');
  assert.equal(never?.scope, 'local');
  assert.deepEqual(never?.references, ['https://security-tracker.debian.org/tracker/CVE-2014-1424']);
  assert.deepEqual(open?.affected, [
    { release: 'bookworm', package: 'apparmor', packageKind: 'source' },
    { release: 'bullseye', package: 'apparmor', packageKind: 'source' },
    { release: 'buster', package: 'apparmor', packageKind: 'source' },
    { release: 'sid', package: 'apparmor', packageKind: 'source', fixed: '3.0.12-1' },
    { release: 'trixie', package: 'apparmor', packageKind: 'source', fixed: '3.0.12-1' },
  ]);
  assert.deepEqual(open?.references, ['https://security-tracker.debian.org/tracker/CVE-2016-1585', 'https://bugs.debian.org/929990']);
  assert.equal(open?.summary, 'In all versions of AppArmor mount rules are accidentally widened when compiled.');
  // "not yet assigned" says nothing: medium.
  assert.equal(old?.severity, 'medium');
  assert.deepEqual(old?.affected.map((r) => r.fixed), ['2.11.0-3', '2.11.0-3', '2.11.0-3', '2.11.0-3', '2.11.0-3']);
});

test('real vulnerablecode excerpt: six issues over three packages, a TEMP id', async (t) => {
  const text = await readRealworld(t, 'debian-tracker/vulnerablecode_debian.json');
  if (text === undefined) return;
  const read = readDebianTracker(JSON.parse(text), 'vulnerablecode_debian.json');
  assert.equal(read.skipped, 0);
  assert.deepEqual(
    read.advisories.map((a) => [a.id, a.severity, a.affected.length]),
    [
      ['CVE-2014-8242', 'low', 2],
      ['CVE-2009-1382', 'medium', 2],
      ['CVE-2009-2459', 'medium', 2],
      ['TEMP-0000000-A2EB44', 'medium', 2],
      ['CVE-2021-37231', 'medium', 5],
      ['CVE-2021-37232', 'medium', 5],
    ],
  );
  const temp = read.advisories.find((a) => a.id === 'TEMP-0000000-A2EB44');
  assert.deepEqual(temp?.affected, [
    { release: 'stretch', package: 'mimetex', packageKind: 'source', fixed: '1.3.3' },
    { release: 'buster', package: 'mimetex', packageKind: 'source', fixed: '1.4.5' },
  ]);
  assert.equal(temp?.scope, 'remote');
});

test('real vunnel excerpt: NVD-derived urgencies, no description, an issue with releases [] skipped', async (t) => {
  const text = await readRealworld(t, 'debian-tracker/vunnel_debian.json');
  if (text === undefined) return;
  const read = readDebianTracker(JSON.parse(text), 'vunnel_debian.json');
  assert.equal(read.skipped, 1);
  assert.deepEqual(
    read.advisories.map((a) => [a.id, a.severity]),
    [
      ['CVE-2008-7220', 'high'],
      ['CVE-2007-2383', 'info'],
      ['CVE-2013-1444', 'low'],
      ['CVE-2005-3111', 'medium'],
      ['CVE-2022-0456', 'medium'],
      ['CVE-2025-53603', 'medium'],
    ],
  );
  assert.deepEqual(
    read.advisories.find((a) => a.id === 'CVE-2022-0456'),
    {
      id: 'CVE-2022-0456',
      aliases: [],
      summary: '',
      severity: 'medium',
      references: ['https://security-tracker.debian.org/tracker/CVE-2022-0456'],
      origin: 'debian-tracker',
      affected: [
        { release: 'bookworm', package: 'chromium', packageKind: 'source', fixed: '98.0.4758.80-1' },
        { release: 'bullseye', package: 'chromium', packageKind: 'source', fixed: '98.0.4758.80-1~deb11u1' },
        { release: 'buster', package: 'chromium', packageKind: 'source' },
        { release: 'sid', package: 'chromium', packageKind: 'source', fixed: '98.0.4758.80-1' },
        { release: 'stretch', package: 'chromium', packageKind: 'source' },
      ],
    },
  );
  const sope = read.advisories.find((a) => a.id === 'CVE-2025-53603');
  assert.equal(sope?.affected.find((r) => r.release === 'bookworm')?.fixed, '5.8.0-1+deb12u1');
});

test('one advisory per issue across packages; per-release urgency kept where it differs; undetermined has no fix', () => {
  const [advisory, ...rest] = parseDebianTracker(
    {
      openssl: { 'CVE-2024-1': { description: 'A flaw.', debianbug: 1, releases: { bookworm: { status: 'resolved', fixed_version: '3.0.16-1~deb12u1', urgency: 'high' } } } },
      'openssl1.0': { 'CVE-2024-1': { debianbug: 2, releases: { bullseye: { status: 'undetermined', urgency: 'low' } } } },
    },
    'tracker.json',
  );
  assert.equal(rest.length, 0);
  assert.deepEqual(advisory, {
    id: 'CVE-2024-1',
    aliases: [],
    summary: 'A flaw.',
    severity: 'high',
    references: ['https://security-tracker.debian.org/tracker/CVE-2024-1', 'https://bugs.debian.org/1', 'https://bugs.debian.org/2'],
    origin: 'debian-tracker',
    affected: [
      { release: 'bookworm', package: 'openssl', packageKind: 'source', fixed: '3.0.16-1~deb12u1' },
      { release: 'bullseye', package: 'openssl1.0', packageKind: 'source', severity: 'low' },
    ],
  });
});

test('malformed tracker JSON: one line naming package, issue and field', () => {
  rejects([], `tracker.json: expected an object, got an array; ${REMEDY}`);
  rejects({ Foo: {} }, `tracker.json: package "Foo": "Foo" is not a Debian package name; ${REMEDY}`);
  rejects({ foo: { 'CVE 1': {} } }, `tracker.json: package foo, issue "CVE 1": "CVE 1" is not an advisory id (letters, digits, . _ : - and at most 128 characters); ${REMEDY}`);
  rejects({ foo: { 'CVE-1': { releases: 'bookworm' } } }, `tracker.json: package foo, CVE-1, releases: expected an object, got string "bookworm"; ${REMEDY}`);
  rejects(
    { foo: { 'CVE-1': { releases: { bookworm: { status: 'fixed' } } } } },
    `tracker.json: package foo, CVE-1, releases.bookworm.status: "fixed" is not one of resolved, open, undetermined; ${REMEDY}`,
  );
  rejects(
    { foo: { 'CVE-1': { releases: { bookworm: { status: 'resolved' } } } } },
    `tracker.json: package foo, CVE-1, releases.bookworm.fixed_version: expected a string, got undefined; ${REMEDY}`,
  );
  rejects(
    { foo: { 'CVE-1': { releases: { bookworm: { status: 'resolved', fixed_version: '1.0-' } } } } },
    `tracker.json: package foo, CVE-1, releases.bookworm.fixed_version: "1.0-" is not a Debian version (revision number is empty); ${REMEDY}`,
  );
  rejects(
    { foo: { 'CVE-1': { releases: { 'Book Worm': { status: 'open' } } } } },
    `tracker.json: package foo, CVE-1, releases.Book Worm: "Book Worm" is not a Debian release codename; ${REMEDY}`,
  );
  rejects(
    { foo: { 'CVE-1': { debianbug: '12', releases: { bookworm: { status: 'open' } } } } },
    `tracker.json: package foo, CVE-1, debianbug: expected a bug number; ${REMEDY}`,
  );
});
