import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BulwarkError } from '../../core/errors.js';
import type { ErrorCode } from '../../core/errors.js';
import { FILE_KINDS, openWriter } from './backend.js';
import type { Backend, FileInfo, FileKind } from './backend.js';

/**
 * The contract every backend keeps, run against each of them (as kysely runs one
 * suite against every dialect). `make` returns a fresh, empty location each call.
 */
export function backendSuite(name: string, make: () => Promise<{ backend: Backend; cleanup: () => Promise<void> }>): void {
  async function withBackend(run: (backend: Backend) => Promise<void>): Promise<void> {
    const { backend, cleanup } = await make();
    try {
      await run(backend);
    } finally {
      await backend.close();
      await cleanup();
    }
  }

  describe(`${name} backend`, () => {
    test('create makes a repository; create where a config exists is CONFLICT', () =>
      withBackend(async (backend) => {
        await backend.create();
        assert.deepEqual(await listAll(backend, 'keys'), []);
        await backend.write('config', 'config', Buffer.from('{"version":1}'));
        await rejectsWith(backend.create(), 'CONFLICT', /already exists/);
        assert.equal((await backend.read('config', 'config')).toString(), '{"version":1}');
      }));

    test('every kind of file is written and read back whole', () =>
      withBackend(async (backend) => {
        await backend.create();
        for (const kind of FILE_KINDS) {
          const fileName = kind === 'config' ? 'config' : hexId();
          const content = randomBytes(1000 + kind.length);
          await backend.write(kind, fileName, content);
          assert.deepEqual(await backend.read(kind, fileName), content, kind);
          assert.deepEqual(await statOf(backend, kind, fileName), { name: fileName, size: content.length }, kind);
        }
      }));

    test('a file written in parts reads back as the parts joined in order', () =>
      withBackend(async (backend) => {
        await backend.create();
        const larger = randomBytes(300);
        // A view into a larger buffer, so a backend that ignores byteOffset would send the wrong bytes.
        const parts = [Buffer.from('first part|'), larger.subarray(100, 200), new Uint8Array([1, 2, 3])];
        const id = hexId();
        await backend.write('data', id, parts);
        assert.deepEqual(await backend.read('data', id), Buffer.concat(parts));
        assert.equal((await backend.stat('data', id))?.size, 11 + 100 + 3);
      }));

    test('a file written piece by piece is seen only once committed, and whole; an abandoned one never; a taken name is CONFLICT', () =>
      withBackend(async (backend) => {
        await backend.create();
        const id = hexId();
        const pieces = [randomBytes(700), randomBytes(5000), randomBytes(1)];
        const writer = await openWriter(backend, 'data', id, { exclusive: true });
        await writer.append([pieces[0] as Buffer]);
        await writer.append([pieces[1] as Buffer, pieces[2] as Buffer]);
        assert.equal(await backend.stat('data', id), undefined, 'nothing is visible before commit');
        assert.deepEqual(await listAll(backend, 'data'), []);
        await writer.commit();
        assert.deepEqual(await backend.read('data', id), Buffer.concat(pieces));

        const abandoned = await openWriter(backend, 'data', hexId(), { exclusive: true });
        await abandoned.append([randomBytes(100)]);
        await abandoned.abort();
        assert.deepEqual((await listAll(backend, 'data')).map((f) => f.name), [id]);

        const twin = await openWriter(backend, 'data', id, { exclusive: true });
        await twin.append([randomBytes(10)]);
        await rejectsWith(twin.commit(), 'CONFLICT');
        assert.deepEqual(await backend.read('data', id), Buffer.concat(pieces), 'the first file is untouched');
      }));

    test('a ranged read returns exactly the bytes asked for', () =>
      withBackend(async (backend) => {
        await backend.create();
        const content = randomBytes(1000);
        const id = hexId();
        await backend.write('data', id, content);
        assert.deepEqual(await backend.read('data', id, { offset: 10, length: 100 }), content.subarray(10, 110));
        assert.deepEqual(await backend.read('data', id, { offset: 0, length: 1000 }), content);
        assert.deepEqual(await backend.read('data', id, { offset: 999, length: 1 }), content.subarray(999));
        assert.equal((await backend.read('data', id, { offset: 1000, length: 0 })).length, 0);
      }));

    test('a ranged read past the end of the file is REPOSITORY_DAMAGED', () =>
      withBackend(async (backend) => {
        await backend.create();
        const id = hexId();
        await backend.write('data', id, randomBytes(1000));
        await rejectsWith(backend.read('data', id, { offset: 990, length: 20 }), 'REPOSITORY_DAMAGED', /shorter than expected/);
        await rejectsWith(backend.read('data', id, { offset: 5000, length: 10 }), 'REPOSITORY_DAMAGED', /shorter than expected/);
        await rejectsWith(backend.read('data', id, { offset: 1001, length: 0 }), 'REPOSITORY_DAMAGED', /shorter than expected/);
        await rejectsWith(backend.read('data', id, { offset: -1, length: 10 }), 'BAD_REQUEST');
      }));

    test('reading a file that does not exist is NOT_FOUND naming it', () =>
      withBackend(async (backend) => {
        await backend.create();
        const id = hexId();
        await rejectsWith(backend.read('keys', id), 'NOT_FOUND', new RegExp(`keys/${id}`));
        await rejectsWith(backend.read('data', id, { offset: 0, length: 10 }), 'NOT_FOUND', new RegExp(`data/${id}`));
        await rejectsWith(backend.read('config', 'config'), 'NOT_FOUND', /config/);
      }));

    test('an exclusive write of an existing name is CONFLICT and leaves the file as it was', () =>
      withBackend(async (backend) => {
        await backend.create();
        const id = hexId();
        await backend.write('keys', id, Buffer.from('original'), { exclusive: true });
        await rejectsWith(backend.write('keys', id, Buffer.from('replacement'), { exclusive: true }), 'CONFLICT', new RegExp(`keys/${id}`));
        assert.equal((await backend.read('keys', id)).toString(), 'original');
        await backend.write('config', 'config', Buffer.from('one'), { exclusive: true });
        await rejectsWith(backend.write('config', 'config', [Buffer.from('t'), Buffer.from('wo')], { exclusive: true }), 'CONFLICT');
        assert.equal((await backend.read('config', 'config')).toString(), 'one');
      }));

    test('a write that is not exclusive replaces the file', () =>
      withBackend(async (backend) => {
        await backend.create();
        const id = hexId();
        await backend.write('locks', id, Buffer.from('a longer first version'));
        await backend.write('locks', id, Buffer.from('second'));
        assert.equal((await backend.read('locks', id)).toString(), 'second');
        assert.equal((await backend.stat('locks', id))?.size, 6);
      }));

    test('list returns exactly the files of each kind with their sizes, data across its shards', () =>
      withBackend(async (backend) => {
        await backend.create();
        for (const kind of FILE_KINDS) assert.deepEqual(await listAll(backend, kind), [], kind);
        const expected = new Map<FileKind, FileInfo[]>(FILE_KINDS.map((kind) => [kind, []]));
        const counts: Record<FileKind, number> = { config: 1, keys: 3, locks: 2, snapshots: 4, index: 2, data: 300 };
        for (const kind of FILE_KINDS) {
          const files = expected.get(kind) ?? [];
          for (let i = 0; i < counts[kind]; i++) {
            const fileName = kind === 'config' ? 'config' : hexId();
            const size = 1 + ((i * 37) % 200);
            files.push({ name: fileName, size });
          }
          // Written a few at a time: 300 sequential writes to S3 would be slow for no gain.
          for (let i = 0; i < files.length; i += 20) {
            await Promise.all(files.slice(i, i + 20).map((f) => backend.write(kind, f.name, randomBytes(f.size))));
          }
        }
        const shards = new Set((expected.get('data') ?? []).map((f) => f.name.slice(0, 2)));
        assert.ok(shards.size > 100, 'the data files should spread over many shards');
        for (const kind of FILE_KINDS) assert.deepEqual(await listAll(backend, kind), sortByName(expected.get(kind) ?? []), kind);
      }));

    test('remove deletes a file, is quiet when it is already gone, and stat follows', () =>
      withBackend(async (backend) => {
        await backend.create();
        const id = hexId();
        assert.equal(await backend.stat('snapshots', id), undefined);
        await backend.write('snapshots', id, Buffer.from('snapshot'));
        assert.deepEqual(await statOf(backend, 'snapshots', id), { name: id, size: 8 });
        await backend.remove('snapshots', id);
        assert.equal(await backend.stat('snapshots', id), undefined);
        await backend.remove('snapshots', id);
        await rejectsWith(backend.read('snapshots', id), 'NOT_FOUND');
        assert.deepEqual(await listAll(backend, 'snapshots'), []);
      }));

    test('names that could leave the repository folder are BAD_REQUEST for every operation', () =>
      withBackend(async (backend) => {
        await backend.create();
        const unsafe: [FileKind, string][] = [
          ['keys', '../x'],
          ['keys', 'a/b'],
          ['keys', ''],
          ['keys', '..'],
          ['keys', '.hidden'],
          ['index', 'a\\b'],
          ['data', '../../config'],
          ['config', 'other'],
        ];
        for (const [kind, fileName] of unsafe) {
          await rejectsWith(backend.read(kind, fileName), 'BAD_REQUEST');
          await rejectsWith(backend.read(kind, fileName, { offset: 0, length: 1 }), 'BAD_REQUEST');
          await rejectsWith(backend.write(kind, fileName, Buffer.from('x')), 'BAD_REQUEST');
          await rejectsWith(backend.remove(kind, fileName), 'BAD_REQUEST');
          await rejectsWith(backend.stat(kind, fileName), 'BAD_REQUEST');
        }
        await rejectsWith(listAll(backend, 'nope' as FileKind), 'BAD_REQUEST');
      }));

    test('a 20 MiB file written in parts round-trips', () =>
      withBackend(async (backend) => {
        await backend.create();
        const parts = Array.from({ length: 5 }, () => randomBytes(4 * 1024 * 1024));
        const whole = Buffer.concat(parts);
        const id = hexId();
        await backend.write('data', id, parts);
        assert.equal((await backend.stat('data', id))?.size, 20 * 1024 * 1024);
        assert.ok((await backend.read('data', id)).equals(whole));
        const across = { offset: 4 * 1024 * 1024 - 10, length: 4 * 1024 * 1024 + 20 };
        assert.ok((await backend.read('data', id, across)).equals(whole.subarray(across.offset, across.offset + across.length)));
      }));
  });
}

/** A pack-style name: 64 hex digits. */
export function hexId(): string {
  return randomBytes(32).toString('hex');
}

/**
 * Name and size only. The storage's write time, where a backend gives it, must be
 * recent (prune and stale locks rely on it), so it is checked here and left out.
 */
function nameAndSize(file: FileInfo): FileInfo {
  if (file.modified !== undefined) assert.ok(Math.abs(Date.now() - file.modified) < 10 * 60_000, `${file.name}: modified ${file.modified} is not about now`);
  return { name: file.name, size: file.size };
}

export async function listAll(backend: Backend, kind: FileKind): Promise<FileInfo[]> {
  const files: FileInfo[] = [];
  for await (const file of backend.list(kind)) files.push(nameAndSize(file));
  return sortByName(files);
}

async function statOf(backend: Backend, kind: FileKind, name: string): Promise<FileInfo | undefined> {
  const info = await backend.stat(kind, name);
  return info === undefined ? undefined : nameAndSize(info);
}

function sortByName(files: FileInfo[]): FileInfo[] {
  return [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Asserts a BulwarkError with the code (and a message matching `message`, when given). */
export async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof BulwarkError, `expected a BulwarkError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}
