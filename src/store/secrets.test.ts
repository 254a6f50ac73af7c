import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ENCRYPTED_FIELDS } from './encrypted-fields.js';
import {
  destroySecretVersion,
  getSecret,
  getSecretVersion,
  listSecrets,
  listSecretVersions,
  liveCurrentVersions,
  markSecretVersionDeleted,
  writeSecretVersion,
  type WriteSecretVersion,
} from './secrets.js';
import type { Store } from './store.js';
import { testDatabases } from './test-databases.js';

const T0 = Date.UTC(2026, 0, 1);

function write(path: string, expectedVersion: number, over: Partial<WriteSecretVersion> = {}): WriteSecretVersion {
  return { path, expectedVersion, sealed: `bwe1.1.${path}.${expectedVersion + 1}`, createdBy: 'alice', at: T0 + expectedVersion, maxVersions: undefined, defaultMaxVersions: 10, ...over };
}

/** Writes the next version the way the service does: read, compare-and-set, retry on a lost race. */
async function put(store: Store, path: string, sealed: (v: number) => string, lost: { n: number }): Promise<number> {
  for (;;) {
    const expected = (await getSecret(store.db, path))?.currentVersion ?? 0;
    const result = await writeSecretVersion(store.db, write(path, expected, { sealed: sealed(expected + 1) }));
    if (result.written) return result.version;
    lost.n++;
  }
}

for (const tdb of testDatabases()) {
  describe(`secrets store (${tdb.name})`, () => {
    let store: Store;
    // PostgreSQL: a second replica. SQLite has one writer process, and two
    // synchronous connections in one process would block each other's locks.
    let writers: Store[];
    before(async () => {
      store = await tdb.open();
      writers = tdb.kind === 'postgres' ? [store, await tdb.openTwin(store)] : [store];
    });
    after(async () => {
      for (const w of writers.slice(1)) await w.close();
      await store.close();
    });

    it('writes version 1, then each next version only against the current one', async () => {
      assert.deepEqual(await writeSecretVersion(store.db, write('app/a', 0)), { written: true, version: 1, maxVersions: 10, removed: [] });
      assert.deepEqual(await writeSecretVersion(store.db, write('app/a', 0)), { written: false }, 'the secret exists: a second "first" write loses');
      assert.deepEqual(await writeSecretVersion(store.db, write('app/a', 1)), { written: true, version: 2, maxVersions: 10, removed: [] });
      assert.deepEqual(await writeSecretVersion(store.db, write('app/a', 1)), { written: false }, 'stale expected version');
      const secret = await getSecret(store.db, 'app/a');
      assert.equal(secret?.currentVersion, 2);
      assert.deepEqual(await getSecretVersion(store.db, 'app/a', 2), {
        path: 'app/a',
        version: 2,
        sealed: 'bwe1.1.app/a.2',
        createdBy: 'alice',
        createdAt: T0 + 1,
        deletedAt: null,
        destroyedAt: null,
      });
    });

    it('concurrent writers (on two replicas where there can be two) get distinct versions and none is lost', async () => {
      const lost = { n: 0 };
      const versions = await Promise.all(Array.from({ length: 16 }, (_, i) => put(writers[i % writers.length] ?? store, 'race/x', (v) => `bwe1.1.writer${i}.v${v}`, lost)));
      assert.ok(lost.n > 0, 'the writers did race (some lost a compare-and-set and retried)');
      assert.deepEqual(
        [...versions].sort((a, b) => a - b),
        Array.from({ length: 16 }, (_, i) => i + 1),
      );
      const rows = await listSecretVersions(store.db, 'race/x');
      assert.equal(rows.length, 10, 'retention keeps the default 10');
      for (const row of rows) assert.match(row.sealed ?? '', new RegExp(`\\.v${row.version}$`), 'each row holds what was sealed for its own version');
      assert.equal((await getSecret(store.db, 'race/x'))?.currentVersion, 16);
    });

    it('retention removes the oldest versions beyond max, and max can change on a write', async () => {
      for (let v = 0; v < 5; v++) await writeSecretVersion(store.db, write('ret/a', v, { maxVersions: v === 0 ? 3 : undefined }));
      assert.deepEqual(
        (await listSecretVersions(store.db, 'ret/a')).map((r) => r.version),
        [3, 4, 5],
      );
      const shrunk = await writeSecretVersion(store.db, write('ret/a', 5, { maxVersions: 1 }));
      assert.deepEqual(shrunk, { written: true, version: 6, maxVersions: 1, removed: [3, 4, 5] });
      assert.deepEqual(
        (await listSecretVersions(store.db, 'ret/a')).map((r) => r.version),
        [6],
      );
      assert.equal((await getSecret(store.db, 'ret/a'))?.maxVersions, 1);
    });

    it('soft delete and destroy are one-way and say whether they changed anything', async () => {
      await writeSecretVersion(store.db, write('del/a', 0));
      await writeSecretVersion(store.db, write('del/a', 1));
      assert.equal(await markSecretVersionDeleted(store.db, 'del/a', 2, T0 + 10), true);
      assert.equal(await markSecretVersionDeleted(store.db, 'del/a', 2, T0 + 11), false);
      assert.equal((await getSecretVersion(store.db, 'del/a', 2))?.deletedAt, T0 + 10);
      assert.equal(await destroySecretVersion(store.db, 'del/a', 1, T0 + 12), true);
      assert.equal(await destroySecretVersion(store.db, 'del/a', 1, T0 + 13), false);
      const destroyed = await getSecretVersion(store.db, 'del/a', 1);
      assert.equal(destroyed?.sealed, null, 'the ciphertext is gone');
      assert.equal(destroyed?.destroyedAt, T0 + 12);
      assert.equal(await markSecretVersionDeleted(store.db, 'del/a', 1, T0 + 14), false, 'a destroyed version is not deleted on top');
      assert.equal(await markSecretVersionDeleted(store.db, 'del/a', 9, T0), false);
    });

    it('lists by plain, case-sensitive prefix ("_" is no wildcard), sorted, with the current version state', async () => {
      for (const path of ['ls/b_c', 'ls/bXc', 'ls/B', 'ls/a/deep', 'lsx']) await writeSecretVersion(store.db, write(path, 0));
      await markSecretVersionDeleted(store.db, 'ls/B', 1, T0 + 5);
      assert.deepEqual(
        (await listSecrets(store.db, { prefix: 'ls/' })).map((s) => s.path),
        ['ls/B', 'ls/a/deep', 'ls/bXc', 'ls/b_c'],
      );
      assert.deepEqual(
        (await listSecrets(store.db, { prefix: 'ls/b_' })).map((s) => s.path),
        ['ls/b_c'],
      );
      assert.deepEqual(await listSecrets(store.db, { prefix: 'LS/' }), []);
      const deleted = (await listSecrets(store.db, { prefix: 'ls/B' }))[0];
      assert.equal(deleted?.currentDeletedAt, T0 + 5);
      assert.ok((await listSecrets(store.db)).some((s) => s.path === 'lsx'));
    });

    it('live current versions leave out missing, deleted and destroyed ones', async () => {
      await writeSecretVersion(store.db, write('cur/live', 0));
      await writeSecretVersion(store.db, write('cur/live', 1));
      await writeSecretVersion(store.db, write('cur/deleted', 0));
      await markSecretVersionDeleted(store.db, 'cur/deleted', 1, T0);
      await writeSecretVersion(store.db, write('cur/destroyed', 0));
      await destroySecretVersion(store.db, 'cur/destroyed', 1, T0);
      const map = await liveCurrentVersions(store.db, ['cur/live', 'cur/deleted', 'cur/destroyed', 'cur/none', 'cur/live']);
      assert.deepEqual([...map], [['cur/live', 2]]);
      assert.deepEqual([...(await liveCurrentVersions(store.db, []))], []);
    });

    it('secret values are an encrypted field: scanned in key order, counted, replaced by compare-and-set', async () => {
      const field = ENCRYPTED_FIELDS.find((f) => f.name === 'secret_versions.value');
      assert.ok(field, 'registered for the re-wrap sweep');
      await writeSecretVersion(store.db, write('sweep/a', 0, { sealed: 'bwe1.1.x' }));
      await writeSecretVersion(store.db, write('sweep/a', 1, { sealed: 'bwe1.2.y' }));
      await writeSecretVersion(store.db, write('sweep/b', 0, { sealed: 'bwe1.1.z' }));
      await destroySecretVersion(store.db, 'sweep/b', 1, T0);
      // Page through everything one value at a time: each key resumes exactly after the last.
      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const batch = await field.scan(store.db, after, 1);
        if (batch.length === 0) break;
        assert.equal(batch.length, 1);
        const value = batch[0];
        assert.ok(value);
        seen.push(value.key);
        after = value.key;
        if (value.binding.id.startsWith('sweep/')) {
          assert.deepEqual(value.binding, { table: 'secret_versions', id: value.key.split('\u0000')[0], version: Number(value.key.split('\u0000')[1]) });
        }
      }
      const sweep = seen.filter((k) => k.startsWith('sweep/'));
      assert.deepEqual(sweep, ['sweep/a\u00001', 'sweep/a\u00002'], 'the destroyed value is not scanned');
      assert.equal(new Set(seen).size, seen.length, 'no value is scanned twice');
      const before = await field.countNotUnder(store.db, 2);
      assert.ok(before >= 1);
      assert.equal(await field.replace(store.db, 'sweep/a\u00001', 'bwe1.9.stale', 'bwe1.2.new'), false, 'compare-and-set refuses a stale expected value');
      assert.equal(await field.replace(store.db, 'sweep/a\u00001', 'bwe1.1.x', 'bwe1.2.new'), true);
      assert.equal((await getSecretVersion(store.db, 'sweep/a', 1))?.sealed, 'bwe1.2.new');
      assert.equal(await field.countNotUnder(store.db, 2), before - 1);
    });
  });
}
