import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeFixtureTree, removeFixtureTree } from './fixture-tree.js';
import { collectOsRelease, osFactsFromRelease, parseOsRelease } from './os-release.js';

const DEBIAN_12 = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
`;

test('parseOsRelease reads a real Debian 12 file', () => {
  assert.deepEqual(osFactsFromRelease(parseOsRelease(DEBIAN_12)), {
    id: 'debian',
    name: 'Debian GNU/Linux',
    version: '12 (bookworm)',
    versionId: '12',
    prettyName: 'Debian GNU/Linux 12 (bookworm)',
    codename: 'bookworm',
  });
});

test('parseOsRelease handles quotes, escapes, comments and blank lines', () => {
  const text = [
    '# a comment with KEY=value inside',
    '',
    '   ',
    "NAME='Single \"quoted\" \\n stays'",
    'PRETTY_NAME="Dq \\"esc\\" \\\\ \\$HOME \\` and \\n kept"',
    'ID=plain',
    'VERSION=bare\\ escaped\\ spaces   ',
    'MIXED="a b"\'c d\'e',
    'EMPTY=',
    'EMPTY_QUOTED=""',
    'SPACED =  "x"',
    'not a key line',
    '1BAD=number-first',
    'WITH_EQ="a=b=c"',
    '  # indented comment',
    'LAST=no-newline-at-end',
  ].join('\n');
  const fields = parseOsRelease(text);
  assert.deepEqual(fields, {
    NAME: 'Single "quoted" \\n stays',
    PRETTY_NAME: 'Dq "esc" \\ $HOME ` and \\n kept',
    ID: 'plain',
    VERSION: 'bare escaped spaces',
    MIXED: 'a bc de',
    EMPTY: '',
    EMPTY_QUOTED: '',
    SPACED: 'x',
    WITH_EQ: 'a=b=c',
    LAST: 'no-newline-at-end',
  });
});

test('parseOsRelease accepts CRLF lines and quoted values spanning lines', () => {
  const fields = parseOsRelease('ID=alpine\r\nNAME="Two\nlines"\r\nVERSION_ID=3.20.0\r\n');
  assert.deepEqual(fields, { ID: 'alpine', NAME: 'Two\nlines', VERSION_ID: '3.20.0' });
});

test('parseOsRelease: later assignments win, as when the shell sources the file', () => {
  assert.equal(parseOsRelease('ID=a\nID=b\n').ID, 'b');
});

test('osFactsFromRelease leaves out keys the file does not set', () => {
  assert.deepEqual(osFactsFromRelease(parseOsRelease('ID=alpine\nVERSION_ID=3.20.0\n')), { id: 'alpine', versionId: '3.20.0' });
});

test('collectOsRelease prefers /etc/os-release and falls back to /usr/lib/os-release', async (t) => {
  const both = await makeFixtureTree({ '/etc/os-release': 'ID=etc\n', '/usr/lib/os-release': 'ID=usrlib\n' });
  const vendorOnly = await makeFixtureTree({ '/usr/lib/os-release': 'ID=usrlib\n' });
  const none = await makeFixtureTree({});
  t.after(() => Promise.all([both, vendorOnly, none].map(removeFixtureTree)));
  assert.deepEqual(await collectOsRelease(both), { id: 'etc' });
  assert.deepEqual(await collectOsRelease(vendorOnly), { id: 'usrlib' });
  assert.deepEqual(await collectOsRelease(none), {});
});

test('collectOsRelease follows /etc/os-release when it is a relative symlink', async (t) => {
  const root = await makeFixtureTree({ '/usr/lib/os-release': 'ID=linked\n', '/etc/os-release': { link: '../usr/lib/os-release' } });
  t.after(() => removeFixtureTree(root));
  assert.deepEqual(await collectOsRelease(root), { id: 'linked' });
});

test('collectOsRelease keeps an absolute symlink inside the root', async (t) => {
  const root = await makeFixtureTree({ '/usr/lib/os-release': 'ID=inside\n', '/etc/os-release': { link: '/usr/lib/os-release' } });
  t.after(() => removeFixtureTree(root));
  assert.deepEqual(await collectOsRelease(root), { id: 'inside' });
});
