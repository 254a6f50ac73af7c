import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BulwarkError } from '../../core/errors.js';
import { BUILTIN_PACK_IDS, builtinPackText, loadBuiltinPack } from './index.js';

test('every built-in pack loads by its id', async () => {
  assert.deepEqual(BUILTIN_PACK_IDS, ['linux-baseline']);
  for (const id of BUILTIN_PACK_IDS) {
    const pack = await loadBuiltinPack(id);
    assert.equal(pack.id, id);
    assert.match(await builtinPackText(id), new RegExp(`^  id: ${id}$`, 'm'));
  }
});

test('an unknown pack is NOT_FOUND and the message names the known ones', async () => {
  await assert.rejects(loadBuiltinPack('cis-everything'), (err: unknown) => {
    assert.ok(err instanceof BulwarkError);
    assert.equal(err.code, 'NOT_FOUND');
    assert.equal(err.message, 'no built-in pack "cis-everything": the built-in packs are linux-baseline');
    return true;
  });
  await assert.rejects(builtinPackText('../linux-baseline'), { code: 'NOT_FOUND' });
});
