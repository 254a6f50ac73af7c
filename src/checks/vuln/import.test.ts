import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BulwarkError } from '../../core/errors.js';
import { MAX_ADVISORY_FILE_CHARS, parseAdvisoryFile } from './import.js';
import { listRealworld, readRealworld } from './realworld-files.js';

const WHAT = 'give an OSV record, an array of them, {"vulns": [...]}, or the Debian security tracker JSON';

function rejects(text: string, message: string | RegExp): void {
  assert.throws(
    () => parseAdvisoryFile(text, 'upload.json'),
    (err: unknown) =>
      err instanceof BulwarkError && err.code === 'INVALID_ADVISORIES' && (typeof message === 'string' ? err.message === message : message.test(err.message)),
  );
}

test('parseAdvisoryFile tells the formats apart on the real files', async (t) => {
  const expected: Record<string, [string, number, number]> = {
    'osv-debian/DLA-3008-1.json': ['osv', 1, 0],
    'osv-debian/DLA-3012-1.json': ['osv', 1, 0],
    'osv-debian/DLA-3022-1.json': ['osv', 1, 0],
    'osv-debian/DLA-3051-1.json': ['osv', 1, 0],
    'osv-debian/DLA-3623-1.json': ['osv', 0, 1],
    'osv-debian/DSA-3029-1.json': ['osv', 1, 0],
    'debian-tracker/osvdev_debian_security_tracker_mock.json': ['debian-tracker', 3, 0],
    'debian-tracker/vulnerablecode_debian.json': ['debian-tracker', 6, 0],
    'debian-tracker/vunnel_debian.json': ['debian-tracker', 6, 1],
  };
  const found = [
    ...((await listRealworld(t, 'osv-debian', '.json')) ?? []).map((f) => `osv-debian/${f}`),
    ...((await listRealworld(t, 'debian-tracker', '.json')) ?? []).map((f) => `debian-tracker/${f}`),
  ];
  if (found.length === 0) return;
  assert.deepEqual(found.sort(), Object.keys(expected).sort());
  for (const [file, [format, count, skipped]] of Object.entries(expected)) {
    const text = await readRealworld(t, file);
    if (text === undefined) return;
    const read = parseAdvisoryFile(text, file);
    assert.deepEqual([read.format, read.advisories.length, read.skipped], [format, count, skipped], file);
  }
});

test('parseAdvisoryFile refuses the tracker DSA list text: only the JSON is read', async (t) => {
  const text = await readRealworld(t, 'debian-tracker/vunnel_DSA_list.txt');
  if (text === undefined) return;
  assert.throws(
    () => parseAdvisoryFile(text, 'DSA/list'),
    (err: unknown) => err instanceof BulwarkError && err.code === 'INVALID_ADVISORIES' && err.message.startsWith('DSA/list: not valid JSON ('),
  );
});

test('parseAdvisoryFile: small inputs of each shape', () => {
  const osv = { id: 'DSA-1-1', affected: [{ package: { ecosystem: 'Debian:12', name: 'foo' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }] }] }] };
  assert.equal(parseAdvisoryFile(JSON.stringify(osv), 'a.json').format, 'osv');
  assert.equal(parseAdvisoryFile(JSON.stringify([osv]), 'a.json').format, 'osv');
  assert.equal(parseAdvisoryFile(JSON.stringify({ vulns: [] }), 'a.json').format, 'osv');
  assert.deepEqual(parseAdvisoryFile('[]', 'a.json'), { advisories: [], skipped: 0, format: 'osv' });
  const tracker = { foo: {}, bar: { 'CVE-1': { releases: { bookworm: { status: 'open' } } } } };
  const read = parseAdvisoryFile(JSON.stringify(tracker), 't.json');
  assert.equal(read.format, 'debian-tracker');
  assert.deepEqual(read.advisories.map((a) => a.id), ['CVE-1']);
});

test('parseAdvisoryFile: malformed files are one clear line', () => {
  rejects('{"id": ', /^upload\.json: not valid JSON \(.+\); give an OSV record/);
  rejects('42', `upload.json: this is neither OSV nor Debian security tracker JSON; ${WHAT}`);
  rejects('{}', `upload.json: this is neither OSV nor Debian security tracker JSON; ${WHAT}`);
  rejects('{"foo": {"CVE-1": {"status": "open"}}}', `upload.json: this is neither OSV nor Debian security tracker JSON; ${WHAT}`);
  rejects(
    ' '.repeat(MAX_ADVISORY_FILE_CHARS + 1),
    `upload.json: ${MAX_ADVISORY_FILE_CHARS + 1} characters is more than the ${MAX_ADVISORY_FILE_CHARS} one advisory file may hold; split it into several files`,
  );
});
