import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalBackend } from './local.js';
import { backendSuite, hexId, listAll, rejectsWith } from './backend-suite.js';

const base = await mkdtemp(join(tmpdir(), 'bulwark-local-backend-'));
after(() => rm(base, { recursive: true, force: true }));

let counter = 0;
/** A repository root that does not exist yet, so `create` makes it. */
function freshRoot(): string {
  counter += 1;
  return join(base, `repo-${counter}`);
}

backendSuite('local', async () => {
  const root = freshRoot();
  return { backend: new LocalBackend(root), cleanup: () => rm(root, { recursive: true, force: true }) };
});

/** Every path below `dir`, folders included. */
async function walk(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    found.push(path);
    if (entry.isDirectory()) found.push(...(await walk(path)));
  }
  return found;
}

async function tempFilesIn(dir: string): Promise<string[]> {
  return (await walk(dir)).filter((path) => path.split('/').pop()?.startsWith('.') === true);
}

describe('local backend on disk', () => {
  test('the repository is private: folders 0700, files 0600, with the layout restic uses', async () => {
    const root = freshRoot();
    const backend = new LocalBackend(root);
    assert.equal(backend.location, root);
    await backend.create();
    const id = `ab${hexId().slice(2)}`;
    await backend.write('config', 'config', Buffer.from('c'));
    await backend.write('keys', 'k1', Buffer.from('k'), { exclusive: true });
    await backend.write('data', id, [Buffer.from('p'), Buffer.from('q')]);
    for (const folder of ['', 'keys', 'locks', 'snapshots', 'index', 'data', 'data/00', 'data/ab', 'data/ff']) {
      assert.equal((await stat(join(root, folder))).mode & 0o777, 0o700, `${folder || 'root'} should be 0700`);
    }
    assert.equal((await readdir(join(root, 'data'))).length, 256);
    for (const file of ['config', 'keys/k1', `data/ab/${id}`]) {
      assert.equal((await stat(join(root, file))).mode & 0o777, 0o600, `${file} should be 0600`);
    }
  });

  test('no temp file remains after writes, replacements and refused exclusive writes', async () => {
    const root = freshRoot();
    const backend = new LocalBackend(root);
    await backend.create();
    const id = hexId();
    await backend.write('data', id, [Buffer.from('one'), Buffer.from('two')]);
    await backend.write('data', id, Buffer.from('three'));
    await backend.write('keys', 'key', Buffer.from('k'), { exclusive: true });
    await rejectsWith(backend.write('keys', 'key', Buffer.from('other'), { exclusive: true }), 'CONFLICT');
    assert.deepEqual(await tempFilesIn(root), []);
  });

  test('a file written piece by piece lives in one temp file (0600) until commit; abort and a refused commit leave none', async () => {
    const root = freshRoot();
    const backend = new LocalBackend(root);
    await backend.create();
    const id = hexId();
    const writer = await backend.openWriter('data', id, { exclusive: true });
    await writer.append([Buffer.from('piece one|')]);
    await writer.append([Buffer.from('piece two')]);
    const temps = await tempFilesIn(root);
    assert.equal(temps.length, 1, 'the pieces go to one file, not memory');
    assert.equal((await stat(temps[0] as string)).size, 19);
    assert.equal((await stat(temps[0] as string)).mode & 0o777, 0o600);
    await writer.commit();
    assert.deepEqual(await tempFilesIn(root), []);

    const abandoned = await backend.openWriter('data', hexId(), { exclusive: true });
    await abandoned.append([Buffer.from('never published')]);
    await abandoned.abort();
    const twin = await backend.openWriter('data', id, { exclusive: true });
    await twin.append([Buffer.from('a second file of the same name')]);
    await rejectsWith(twin.commit(), 'CONFLICT');
    assert.deepEqual(await tempFilesIn(root), []);
    assert.equal((await backend.read('data', id)).toString(), 'piece one|piece two');
  });

  test('a write that fails before it is published leaves nothing under its name and no temp file', async () => {
    const root = freshRoot();
    const backend = new LocalBackend(root);
    await backend.create();

    // The rename fails after every byte was written and synced: a folder holds the final name.
    const blocked = `cd${hexId().slice(2)}`;
    await mkdir(join(root, 'data', 'cd', blocked, 'inside'), { recursive: true });
    await rejectsWith(backend.write('data', blocked, [randomPart(), randomPart()]), 'STORAGE_FAILED', /EISDIR/);
    assert.ok((await stat(join(root, 'data', 'cd', blocked))).isDirectory());

    // The temp file cannot be created: a file stands where the shard folder should be.
    await rm(join(root, 'data', 'ef'), { recursive: true });
    await writeFile(join(root, 'data', 'ef'), 'not a folder');
    const orphan = `ef${hexId().slice(2)}`;
    await rejectsWith(backend.write('data', orphan, randomPart()), 'STORAGE_FAILED', new RegExp(`${join(root, 'data', 'ef')}: ENOTDIR`));

    // Without write permission on the folder (root ignores permissions, so only as another user).
    if (process.getuid?.() !== 0) {
      await chmod(join(root, 'data', '12'), 0o500);
      const denied = `12${hexId().slice(2)}`;
      await rejectsWith(backend.write('data', denied, randomPart()), 'STORAGE_FAILED', /EACCES/);
      assert.deepEqual(await readdir(join(root, 'data', '12')), []);
      await chmod(join(root, 'data', '12'), 0o700);
    }

    assert.deepEqual(await tempFilesIn(root), []);
    assert.deepEqual(await listAll(backend, 'data'), []);
    await rejectsWith(backend.read('data', blocked), 'STORAGE_FAILED', /EISDIR/);
  });

  test('list skips temp files and files the repository could not have written', async () => {
    const root = freshRoot();
    const backend = new LocalBackend(root);
    await backend.create();
    await backend.write('snapshots', 's1', Buffer.from('snap'));
    await writeFile(join(root, 'snapshots', '.s2.0123.tmp'), 'half written');
    await writeFile(join(root, 'snapshots', 'has space'), 'foreign');
    await mkdir(join(root, 'snapshots', 'subfolder'));
    const packInWrongShard = `aa${hexId().slice(2)}`;
    await writeFile(join(root, 'data', '00', packInWrongShard), 'misplaced');
    assert.deepEqual(await listAll(backend, 'snapshots'), [{ name: 's1', size: 4 }]);
    assert.deepEqual(await listAll(backend, 'data'), []);
  });

  test('a root that does not exist is REPOSITORY_NOT_FOUND, and writing does not create it', async () => {
    const root = freshRoot();
    const backend = new LocalBackend(root);
    for (const kind of ['config', 'keys', 'data'] as const) {
      await rejectsWith(listAll(backend, kind), 'REPOSITORY_NOT_FOUND', new RegExp(root));
    }
    await rejectsWith(backend.read('config', 'config'), 'REPOSITORY_NOT_FOUND');
    await rejectsWith(backend.write('keys', 'k', Buffer.from('k')), 'REPOSITORY_NOT_FOUND');
    await assert.rejects(stat(root), { code: 'ENOENT' });
    assert.equal(await backend.stat('keys', 'k'), undefined);
  });

  test('many ranged reads at once over more packs than are kept open all return their bytes', async () => {
    const root = freshRoot();
    const backend = new LocalBackend(root);
    await backend.create();
    const packs = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const name = hexId();
        const content = randomBytes(64 * 1024);
        await backend.write('data', name, content);
        return { name, content };
      }),
    );
    // Interleaved reads of every pack, many in flight: packs are opened, reused and evicted meanwhile.
    const reads = [];
    for (let round = 0; round < 5; round++) {
      for (const { name, content } of packs) {
        const offset = (round * 997) % 60_000;
        reads.push(backend.read('data', name, { offset, length: 1000 }).then((got) => assert.deepEqual(got, content.subarray(offset, offset + 1000))));
      }
    }
    await Promise.all(reads);
    await backend.close();
  });

  test('a root without the repository folders is REPOSITORY_NOT_FOUND for list; a write makes its folder', async () => {
    const root = freshRoot();
    await mkdir(root);
    const backend = new LocalBackend(root);
    await rejectsWith(listAll(backend, 'keys'), 'REPOSITORY_NOT_FOUND', /keys\/ folder is missing/);
    assert.deepEqual(await listAll(backend, 'config'), []);
    await backend.write('keys', 'k', Buffer.from('key'));
    assert.deepEqual(await listAll(backend, 'keys'), [{ name: 'k', size: 3 }]);
  });
});

function randomPart(): Buffer {
  return Buffer.alloc(64 * 1024, 7);
}
