import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMasterKey, loadOrCreateMasterKey } from './master-key-file.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-keyring-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the master key is created 0600 in a recognisable format, then loaded as is', async (t) => {
  const path = join(tempDir(t), 'state', 'master.key');
  const first = await loadOrCreateMasterKey(path);
  assert.equal(first.created, true);
  assert.equal(first.key.length, 32);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const text = readFileSync(path, 'utf8');
  assert.equal(text, `bulwark-master-key v1\n${first.key.toString('base64')}\n`);
  const second = await loadOrCreateMasterKey(path);
  assert.equal(second.created, false);
  assert.deepEqual(second.key, first.key);
  assert.deepEqual(await loadMasterKey(path), first.key);
  assert.deepEqual(readdirSync(join(path, '..')), ['master.key'], 'no staging file is left behind');
});

test('concurrent creation yields one key for everyone', async (t) => {
  const path = join(tempDir(t), 'master.key');
  const results = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateMasterKey(path)));
  const keys = new Set(results.map((r) => r.key.toString('hex')));
  assert.equal(keys.size, 1);
  assert.equal(results.filter((r) => r.created).length, 1);
  assert.deepEqual(await loadMasterKey(path), results[0]?.key);
});

test('a key file readable by group or others is refused with the chmod to run', async (t) => {
  const path = join(tempDir(t), 'master.key');
  await loadOrCreateMasterKey(path);
  for (const mode of [0o644, 0o640, 0o604]) {
    chmodSync(path, mode);
    await assert.rejects(loadOrCreateMasterKey(path), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'KEY_FILE_INVALID');
      assert.ok(err.message.includes(path));
      assert.ok(err.message.includes(`chmod 600 ${path}`));
      return true;
    });
    await assert.rejects(loadMasterKey(path), { code: 'KEY_FILE_INVALID' });
  }
});

test('malformed key files are refused without echoing their content', async (t) => {
  const dir = tempDir(t);
  const cases = {
    empty: '',
    noHeader: `${Buffer.alloc(32, 7).toString('base64')}\n`,
    shortKey: `bulwark-master-key v1\n${Buffer.alloc(16, 7).toString('base64')}\n`,
    longKey: `bulwark-master-key v1\n${Buffer.alloc(48, 7).toString('base64')}\n`,
    notBase64: 'bulwark-master-key v1\nthis is not base64 at all!!\n',
    otherVersion: `bulwark-master-key v2\n${Buffer.alloc(32, 7).toString('base64')}\n`,
  };
  for (const [name, content] of Object.entries(cases)) {
    const path = join(dir, name);
    writeFileSync(path, content, { mode: 0o600 });
    await assert.rejects(loadOrCreateMasterKey(path), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'KEY_FILE_INVALID', name);
      assert.ok(!err.message.includes(Buffer.alloc(16, 7).toString('base64').slice(0, 12)), name);
      return true;
    });
  }
});

test('loadMasterKey does not create and tells how to', async (t) => {
  const path = join(tempDir(t), 'master.key');
  await assert.rejects(loadMasterKey(path), { code: 'KEY_FILE_INVALID', message: /missing; run `bulwark server init`/ });
  assert.throws(() => statSync(path));
});

test('a directory where the key should be is refused', async (t) => {
  const dir = tempDir(t);
  chmodSync(dir, 0o700);
  await assert.rejects(loadMasterKey(dir), { code: 'KEY_FILE_INVALID' });
});
