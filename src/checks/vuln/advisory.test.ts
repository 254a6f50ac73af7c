import { test } from 'node:test';
import assert from 'node:assert/strict';
import { advisoryPackageKeys, debianCodename, indexAdvisories } from './advisory.js';
import type { Advisory } from './advisory.js';

const advisory = (id: string, packages: string[]): Advisory => ({
  id,
  aliases: [],
  summary: '',
  severity: 'medium',
  references: [],
  origin: 'debian-tracker',
  affected: packages.map((p, i) => ({ release: i % 2 === 0 ? 'bookworm' : 'bullseye', package: p, packageKind: 'source' })),
});

test('debianCodename maps OSV release numbers to codenames', () => {
  assert.deepEqual(
    ['7', '8', '9', '10', '11', '12', '13', '14'].map(debianCodename),
    ['wheezy', 'jessie', 'stretch', 'buster', 'bullseye', 'bookworm', 'trixie', 'forky'],
  );
  assert.equal(debianCodename('99'), undefined);
  assert.equal(debianCodename('toString'), undefined);
});

test('advisoryPackageKeys: each named package once, sorted', () => {
  assert.deepEqual(advisoryPackageKeys(advisory('CVE-1', ['openssl', 'nss', 'openssl'])), ['nss', 'openssl']);
  assert.deepEqual(advisoryPackageKeys(advisory('CVE-2', [])), []);
});

test('indexAdvisories finds an advisory under every package it names', () => {
  const a = advisory('CVE-1', ['openssl', 'nss']);
  const b = advisory('CVE-2', ['openssl']);
  const lookup = indexAdvisories([a, b]);
  assert.deepEqual(lookup('openssl'), [a, b]);
  assert.deepEqual(lookup('nss'), [a]);
  assert.deepEqual(lookup('glibc'), []);
});
