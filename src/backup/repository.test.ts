import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Backend, FileKind } from './backend/backend.js';
import { FaultyBackend, overriding } from './backend/faulty.js';
import { LocalBackend } from './backend/local.js';
import { BLOB_DATA, BLOB_TREE, blobAad, blobId, encodeRepositoryKeys, fileAad, newRepositoryKeys, open, seal, sealParts } from './crypto.js';
import { decodeIndex } from './index-file.js';
import { wrapRepositoryKeys, type Credential } from './key-file.js';
import { PACK_TARGET_BYTES, Repository, type RepositoryConfig } from './repository.js';
import type { Tree } from './tree.js';

const password: Credential = { kind: 'password', password: 'correct horse' };
const options = { scryptCost: { log2N: 15, r: 8, p: 1 } };
/** A key-file credential opens without scrypt: the tests that are not about passwords use it to stay fast. */
const fast: Credential = { kind: 'key-file', bytes: randomBytes(32) };

let root: string;
let count = 0;

function freshDir(): string {
  return join(root, `repo-${++count}`);
}

async function names(backend: Backend, kind: FileKind): Promise<string[]> {
  const out: string[] = [];
  for await (const file of backend.list(kind)) out.push(file.name);
  return out.sort();
}

/** The local backend, recording the size of each piece appended to a file written in pieces. */
function recordingAppends(inner: LocalBackend, sizes: number[]): Backend {
  return overriding(inner, {
    openWriter: async (kind, name, options) => {
      const writer = await inner.openWriter(kind, name, options);
      return {
        append: (parts) => {
          sizes.push(parts.reduce((n, p) => n + p.length, 0));
          return writer.append(parts);
        },
        commit: () => writer.commit(),
        abort: () => writer.abort(),
      };
    },
  });
}

/** Stores a data blob as the backup workers do, but without compression (random data would not shrink anyway). */
async function addData(repo: Repository, plain: Buffer): Promise<Buffer> {
  const id = blobId(repo.keys.mac, BLOB_DATA, plain);
  assert.ok(repo.writer.claim(id));
  await repo.writer.add(BLOB_DATA, id, sealParts(repo.keys.encryption, plain, blobAad(BLOB_DATA, id)), plain.length);
  return id;
}

/** A backend whose pack writes fail: the storage filled up, say. */
function failingPackWrites(inner: Backend): Backend {
  return new FaultyBackend(inner, (op, kind) => {
    if (op === 'write' && kind === 'data') throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
  });
}

describe('Repository', () => {
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'bulwark-repository-'));
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  describe('init and open', () => {
    it('init then open with the same password gives the same config and keys', async () => {
      const dir = freshDir();
      const made = await Repository.init(new LocalBackend(dir), password, options);
      assert.equal(made.config.version, 1);
      assert.match(made.config.id, /^[0-9a-f]{64}$/);
      const opened = await Repository.open(new LocalBackend(dir), password, options);
      assert.deepEqual(opened.config, made.config);
      assert.deepEqual(opened.keys, made.keys);
      assert.equal(opened.keyName, made.keyName);
      assert.deepEqual(await names(opened.backend, 'keys'), [made.keyName]);
    });

    it('open with a wrong password is BACKUP_KEY_WRONG, and the message holds no password', async () => {
      const dir = freshDir();
      await Repository.init(new LocalBackend(dir), password, options);
      await assert.rejects(Repository.open(new LocalBackend(dir), { kind: 'password', password: 'incorrect horse' }), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'BACKUP_KEY_WRONG');
        assert.match(err.message, /password/);
        assert.ok(!err.message.includes('horse'));
        return true;
      });
      await assert.rejects(Repository.open(new LocalBackend(dir), { kind: 'key-file', bytes: randomBytes(32) }), { code: 'BACKUP_KEY_WRONG' });
    });

    it('open where there is no repository is REPOSITORY_NOT_FOUND (missing folder, or a folder without one)', async () => {
      await assert.rejects(Repository.open(new LocalBackend(join(root, 'nothing-here')), password), { code: 'REPOSITORY_NOT_FOUND' });
      const empty = freshDir();
      await mkdir(empty);
      await assert.rejects(Repository.open(new LocalBackend(empty), password), { code: 'REPOSITORY_NOT_FOUND' });
    });

    it('init twice is CONFLICT and leaves the first repository as it was', async () => {
      const dir = freshDir();
      const first = await Repository.init(new LocalBackend(dir), password, options);
      await assert.rejects(Repository.init(new LocalBackend(dir), { kind: 'password', password: 'another password' }, options), { code: 'CONFLICT' });
      assert.deepEqual(await names(first.backend, 'keys'), [first.keyName]);
      const opened = await Repository.open(new LocalBackend(dir), password);
      assert.equal(opened.config.id, first.config.id);
    });

    it('init refuses a short password before writing anything', async () => {
      const dir = freshDir();
      await assert.rejects(Repository.init(new LocalBackend(dir), { kind: 'password', password: 'short' }, options), { code: 'BAD_REQUEST' });
      await assert.rejects(Repository.open(new LocalBackend(dir), password), { code: 'REPOSITORY_NOT_FOUND' });
    });

    it('a repository of another format version is refused, naming both versions', async () => {
      const dir = freshDir();
      const repo = await Repository.init(new LocalBackend(dir), fast);
      const config: RepositoryConfig = { ...repo.config, version: 2 };
      await repo.backend.write('config', 'config', seal(repo.keys.encryption, Buffer.from(JSON.stringify(config)), fileAad('config')));
      await assert.rejects(Repository.open(new LocalBackend(dir), fast), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'REPOSITORY_DAMAGED');
        assert.match(err.message, /version 2/);
        assert.match(err.message, /version 1/);
        return true;
      });
    });

    it('a config sealed as another kind of file is refused', async () => {
      const dir = freshDir();
      const repo = await Repository.init(new LocalBackend(dir), fast);
      await repo.backend.write('config', 'config', seal(repo.keys.encryption, Buffer.from(JSON.stringify(repo.config)), fileAad('snapshot')));
      await assert.rejects(Repository.open(new LocalBackend(dir), fast), { code: 'REPOSITORY_DAMAGED' });
    });

    it('a key file that is not JSON does not stop another key from opening the repository', async () => {
      const dir = freshDir();
      const repo = await Repository.init(new LocalBackend(dir), fast);
      // Named to sort before the good key, which open tries in name order.
      await repo.backend.write('keys', '0'.repeat(64), Buffer.from('this is not a key'));
      const opened = await Repository.open(new LocalBackend(dir), fast);
      assert.equal(opened.keyName, repo.keyName);
    });

    it('two inits racing on one location: one wins, the loser leaves no key behind, and the repository opens', async () => {
      const dir = freshDir();
      const results = await Promise.allSettled([Repository.init(new LocalBackend(dir), fast), Repository.init(new LocalBackend(dir), fast)]);
      const won = results.filter((r) => r.status === 'fulfilled');
      assert.ok(won.length >= 1);
      for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code?: string }).code, 'CONFLICT');
      const opened = await Repository.open(new LocalBackend(dir), fast);
      assert.equal(opened.config.id, (won[0] as PromiseFulfilledResult<Repository>).value.config.id);
      assert.equal((await opened.listKeys()).length, won.length === 2 ? 2 : 1);
    });

    it('a key that opens with the credential but belongs to no repository (a lost init race) is passed over', async () => {
      const dir = freshDir();
      const repo = await Repository.init(new LocalBackend(dir), fast);
      // A stray key of the same credential around other key material, sorting first.
      const stray = await wrapRepositoryKeys(encodeRepositoryKeys(newRepositoryKeys()), fast, { host: 'h', user: 'u', now: new Date() }, { log2N: 15, r: 8, p: 1 });
      await repo.backend.write('keys', '0'.repeat(64), Buffer.from(JSON.stringify(stray)));
      const opened = await Repository.open(new LocalBackend(dir), fast);
      assert.equal(opened.config.id, repo.config.id);
    });

    it('close wipes the keys in memory', async () => {
      const repo = await Repository.init(new LocalBackend(freshDir()), fast);
      repo.close();
      assert.ok([repo.keys.encryption, repo.keys.mac, repo.keys.chunker].every((k) => k.every((b) => b === 0)));
    });
  });

  describe('keys', () => {
    it('addKey, listKeys and removeKey', async () => {
      const dir = freshDir();
      const repo = await Repository.init(new LocalBackend(dir), password, options);
      const keyFile: Credential = { kind: 'key-file', bytes: randomBytes(48) };
      const second: Credential = { kind: 'password', password: 'second password' };
      const fileKey = await repo.addKey(keyFile);
      const passwordKey = await repo.addKey(second);
      const listed = await repo.listKeys();
      assert.equal(listed.length, 3);
      const byId = new Map(listed.map((k) => [k.id, k]));
      assert.deepEqual(
        [byId.get(repo.keyName)?.kind, byId.get(repo.keyName)?.current],
        ['password', true],
      );
      assert.deepEqual([byId.get(fileKey)?.kind, byId.get(fileKey)?.current], ['key-file', false]);
      assert.deepEqual([byId.get(passwordKey)?.kind, byId.get(passwordKey)?.current], ['password', false]);

      // Every key opens the same repository.
      const viaFile = await Repository.open(new LocalBackend(dir), keyFile);
      assert.equal(viaFile.keyName, fileKey);
      assert.deepEqual(viaFile.keys, repo.keys);
      assert.equal((await Repository.open(new LocalBackend(dir), second)).keyName, passwordKey);

      assert.equal(await repo.removeKey(passwordKey.slice(0, 12)), passwordKey);
      await assert.rejects(Repository.open(new LocalBackend(dir), second), { code: 'BACKUP_KEY_WRONG' });
      assert.equal((await repo.listKeys()).length, 2);
    });

    it('the key in use cannot be removed (CONFLICT); another key can remove it', async () => {
      const dir = freshDir();
      const repo = await Repository.init(new LocalBackend(dir), password, options);
      const keyFile: Credential = { kind: 'key-file', bytes: randomBytes(32) };
      await repo.addKey(keyFile);
      await assert.rejects(repo.removeKey(repo.keyName), { code: 'CONFLICT' });
      assert.equal((await repo.listKeys()).length, 2);
      const other = await Repository.open(new LocalBackend(dir), keyFile);
      assert.equal(await other.removeKey(repo.keyName), repo.keyName);
      await assert.rejects(Repository.open(new LocalBackend(dir), password), { code: 'BACKUP_KEY_WRONG' });
    });

    it('removeKey: an ambiguous prefix, an unknown one, and one too short', async () => {
      const dir = freshDir();
      const repo = await Repository.init(new LocalBackend(dir), fast);
      const added = await repo.addKey({ kind: 'key-file', bytes: randomBytes(32) });
      // A copy of that key under a name sharing its first 8 digits.
      const twin = added.slice(0, 8) + (added[8] === 'f' ? 'e' : 'f') + added.slice(9);
      await repo.backend.write('keys', twin, await repo.backend.read('keys', added));
      await assert.rejects(repo.removeKey(added.slice(0, 8)), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'AMBIGUOUS_NAME');
        assert.match(err.message, /2 keys/);
        return true;
      });
      const unknown = repo.keyName.startsWith('ffff') || added.startsWith('ffff') || twin.startsWith('ffff') ? 'eeee' : 'ffff';
      await assert.rejects(repo.removeKey(unknown), { code: 'NOT_FOUND' });
      for (const bad of ['', 'abc', 'ABCD', 'zzzz', '../x']) await assert.rejects(repo.removeKey(bad), { code: 'BAD_REQUEST' }, bad);
      assert.equal((await repo.listKeys()).length, 3);
      assert.equal(await repo.removeKey(added), added);
      assert.equal(await repo.removeKey(twin), twin);
    });
  });

  describe('trees', () => {
    const tree: Tree = { nodes: [{ name: 'a', type: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: '1', size: 0, content: [] }] };

    it('saveTree stores an identical tree once: in this session, and after a reopen', async () => {
      const dir = freshDir();
      const repo = await Repository.init(new LocalBackend(dir), fast);
      const id = await repo.saveTree(tree);
      assert.equal(await repo.saveTree({ nodes: [...tree.nodes] }), id);
      assert.equal(repo.writer.blobsStored, 1);
      await repo.flush();
      assert.deepEqual(await repo.loadTree(id), tree);

      const again = await Repository.open(new LocalBackend(dir), fast);
      await again.loadIndex();
      assert.equal(await again.saveTree(tree), id);
      assert.equal(again.writer.blobsStored, 0);
      assert.deepEqual(await again.loadTree(id), tree);
    });

    it('the tree id is the keyed hash of the encoded tree, and differs between repositories', async () => {
      const a = await Repository.init(new LocalBackend(freshDir()), fast);
      const b = await Repository.init(new LocalBackend(freshDir()), fast);
      assert.notEqual(await a.saveTree(tree), await b.saveTree(tree));
    });
  });

  describe('PackWriter', () => {
    it('fills packs to about 16 MiB, writes one index file naming every pack, and reads every blob back after a reopen', async () => {
      const dir = freshDir();
      const repo = await Repository.init(new LocalBackend(dir), fast);
      const blobs = new Map<string, Buffer>();
      const ids: Buffer[] = [];
      // 20 blobs of 1 MiB: one full pack (16 blobs) and one partly filled.
      for (let i = 0; i < 20; i++) {
        const plain = randomBytes(1 << 20);
        const id = await addData(repo, plain);
        ids.push(id);
        blobs.set(id.toString('hex'), plain);
      }
      await repo.flush();

      const packs = await names(repo.backend, 'data');
      assert.equal(packs.length, 2);
      const sizes = await Promise.all(packs.map(async (p) => (await repo.backend.stat('data', p))?.size ?? 0));
      const blobBytes = (1 << 20) + 28;
      assert.ok(sizes.some((s) => s >= PACK_TARGET_BYTES && s < PACK_TARGET_BYTES + blobBytes + 4096), `one pack of ~16 MiB: ${sizes.join(', ')}`);
      assert.ok(sizes.some((s) => s > 4 * blobBytes && s < 5 * blobBytes), `the rest: ${sizes.join(', ')}`);

      const indexes = await names(repo.backend, 'index');
      assert.equal(indexes.length, 1);
      const index = decodeIndex(repo.keys.encryption, await repo.backend.read('index', indexes[0] as string), indexes[0] as string);
      assert.deepEqual(index.map((p) => p.id.toString('hex')).sort(), packs);
      assert.deepEqual(index.flatMap((p) => p.blobs.map((b) => b.id.toString('hex'))).sort(), [...blobs.keys()].sort());
      assert.deepEqual(
        index.map((p) => p.blobs.length).sort((x, y) => x - y),
        [4, 16],
      );

      // A second flush with nothing new writes nothing.
      await repo.flush();
      assert.equal((await names(repo.backend, 'index')).length, 1);

      const reopened = await Repository.open(new LocalBackend(dir), fast);
      assert.equal(await reopened.loadIndex(), 1);
      for (const id of ids) assert.deepEqual(await reopened.readBlob(BLOB_DATA, id), blobs.get(id.toString('hex')));
    });

    it('a blob offered again (in this session or after a reopen) is not claimed twice', async () => {
      const dir = freshDir();
      const repo = await Repository.init(new LocalBackend(dir), fast);
      const plain = randomBytes(1000);
      const id = await addData(repo, plain);
      assert.equal(repo.writer.claim(id), false);
      await repo.flush();
      const reopened = await Repository.open(new LocalBackend(dir), fast);
      await reopened.loadIndex();
      assert.equal(reopened.writer.claim(Buffer.from(id)), false);
      assert.equal(reopened.writer.claim(blobId(reopened.keys.mac, BLOB_DATA, randomBytes(10))), true);
    });

    it('with presentPacksOnly, index entries of packs gone from data/ are ignored, so the data is stored again', async () => {
      const dir = freshDir();
      const repo = await Repository.init(new LocalBackend(dir), fast);
      const plain = randomBytes(1000);
      const id = await addData(repo, plain);
      await repo.flush();
      const loc = repo.locate(id);
      assert.ok(loc);
      // The pack is gone (pruned), but an index naming it was put back by someone with write access.
      await repo.backend.remove('data', loc.pack);
      const trusting = await Repository.open(new LocalBackend(dir), fast);
      await trusting.loadIndex();
      assert.equal(trusting.writer.claim(Buffer.from(id)), false, 'a plain load believes the stale index');
      const careful = await Repository.open(new LocalBackend(dir), fast);
      await careful.loadIndex({ presentPacksOnly: true });
      assert.equal(careful.writer.claim(Buffer.from(id)), true, 'a backup stores it again');
    });

    it('readBlob of an id in no index, or of the wrong type, is REPOSITORY_DAMAGED', async () => {
      const dir = freshDir();
      const repo = await Repository.init(new LocalBackend(dir), fast);
      const id = await addData(repo, randomBytes(100));
      await repo.flush();
      const reopened = await Repository.open(new LocalBackend(dir), fast);
      await reopened.loadIndex();
      await assert.rejects(reopened.readBlob(BLOB_DATA, randomBytes(32)), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'REPOSITORY_DAMAGED');
        assert.match(err.message, /in no index/);
        return true;
      });
      await assert.rejects(reopened.readBlob(BLOB_TREE, id), { code: 'REPOSITORY_DAMAGED' });
      // Before the index is loaded nothing is known.
      const unloaded = await Repository.open(new LocalBackend(dir), fast);
      await assert.rejects(unloaded.readBlob(BLOB_DATA, id), { code: 'REPOSITORY_DAMAGED' });
    });

    it('a pack upload that fails makes flush reject and writes no index', async () => {
      const dir = freshDir();
      await Repository.init(new LocalBackend(dir), fast);
      const repo = await Repository.open(failingPackWrites(new LocalBackend(dir)), fast);
      await addData(repo, randomBytes(4096));
      await repo.saveTree({ nodes: [] });
      await assert.rejects(repo.flush(), /ENOSPC/);
      const plain = new LocalBackend(dir);
      assert.deepEqual(await names(plain, 'index'), []);
      assert.deepEqual(await names(plain, 'data'), []);
      // The failure sticks: nothing later pretends the data was stored.
      await assert.rejects(repo.flush(), /ENOSPC/);
      assert.deepEqual(await names(plain, 'index'), []);
    });

    it('a pack upload that fails while blobs are still being added makes flush reject and writes no index', async () => {
      const dir = freshDir();
      await Repository.init(new LocalBackend(dir), fast);
      const repo = await Repository.open(failingPackWrites(new LocalBackend(dir)), fast);
      // 17 MiB: the first pack closes (and its upload fails) before flush.
      let refused: unknown;
      for (let i = 0; i < 17 && refused === undefined; i++) {
        await addData(repo, randomBytes(1 << 20)).catch((err: unknown) => {
          refused = err;
        });
      }
      await assert.rejects(repo.flush(), /ENOSPC/);
      assert.deepEqual(await names(new LocalBackend(dir), 'index'), []);
    });

    it('a pack reaches storage in pieces of about 1 MiB as its blobs come, never held whole, and reads back', async () => {
      const dir = freshDir();
      await Repository.init(new LocalBackend(dir), fast);
      const appends: number[] = [];
      const repo = await Repository.open(recordingAppends(new LocalBackend(dir), appends), fast);
      const blobs: [Buffer, Buffer][] = [];
      // 300 blobs of 64 KiB (19 MiB): one full pack, and one partly filled.
      for (let i = 0; i < 300; i++) {
        const plain = randomBytes(64 * 1024);
        blobs.push([await addData(repo, plain), plain]);
      }
      await repo.flush();
      assert.equal((await names(repo.backend, 'data')).length, 2);
      assert.ok(appends.length >= 18, `${appends.length} appends`);
      // A piece is at most the 1 MiB threshold plus the blob that crossed it (and a header at the end).
      assert.ok(Math.max(...appends) < (1 << 20) + 2 * 64 * 1024, `largest piece ${Math.max(...appends)} B`);
      const reopened = await Repository.open(new LocalBackend(dir), fast);
      await reopened.loadIndex();
      for (const [id, plain] of [blobs[0], blobs[150], blobs[299]] as [Buffer, Buffer][]) assert.deepEqual(await reopened.readBlob(BLOB_DATA, id), plain);
      await reopened.backend.close();
    });

    it('discard (a failed backup) removes the pack being filled, waits for packs being committed, and refuses blobs after', async () => {
      const dir = freshDir();
      await Repository.init(new LocalBackend(dir), fast);
      const repo = await Repository.open(new LocalBackend(dir), fast);
      // 17 blobs of 1 MiB: one pack committing, one being filled.
      for (let i = 0; i < 17; i++) await addData(repo, randomBytes(1 << 20));
      const temps = async (): Promise<string[]> => (await readdir(join(dir, 'data'), { recursive: true })).filter((p) => p.split('/').pop()?.startsWith('.') === true);
      assert.ok((await temps()).length >= 1, 'the pack being filled is a temp file');
      await repo.writer.discard();
      assert.deepEqual(await temps(), []);
      assert.equal((await names(repo.backend, 'data')).length, 1, 'the committed pack stays (unreferenced: no index names it)');
      assert.deepEqual(await names(repo.backend, 'index'), []);
      await assert.rejects(addData(repo, randomBytes(10)), { code: 'INTERNAL' });
    });
  });

  describe('snapshots', () => {
    it('saveSnapshot, loadSnapshot and listSnapshots; a damaged one is reported and left out', async () => {
      const dir = freshDir();
      const repo = await Repository.init(new LocalBackend(dir), fast);
      const tree = await repo.saveTree({ nodes: [] });
      await repo.flush();
      const base = { v: 1 as const, host: 'h', user: 'u', paths: ['/etc'], tags: [], excludes: [], tree, program: 'bulwark test' };
      const newer = await repo.saveSnapshot({ ...base, time: '2026-11-25T10:00:00.000Z' });
      const older = await repo.saveSnapshot({ ...base, time: '2026-11-24T10:00:00.000Z' });
      const bad = 'f'.repeat(64);
      await repo.backend.write('snapshots', bad, seal(repo.keys.encryption, Buffer.from('{}'), fileAad('index')));
      const errors: string[] = [];
      const listed = await repo.listSnapshots((id, err) => errors.push(`${id} ${err.code}`));
      assert.deepEqual(
        listed.map((s) => s.id),
        [older, newer],
      );
      assert.deepEqual(errors, [`${bad} REPOSITORY_DAMAGED`]);
      assert.equal((await repo.loadSnapshot(newer)).time, '2026-11-25T10:00:00.000Z');
      // Sealed as a snapshot: a snapshot file opens only as one.
      const sealed = await repo.backend.read('snapshots', newer);
      assert.throws(() => open(repo.keys.encryption, sealed, fileAad('index'), 'x'), { code: 'REPOSITORY_DAMAGED' });
    });
  });
});
