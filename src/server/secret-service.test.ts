import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { ManualClock } from '../core/clock.js';
import { BulwarkError } from '../core/errors.js';
import { ephemeralCipher } from '../keyring/record-cipher.js';
import { getSecretVersion } from '../store/secrets.js';
import type { Store } from '../store/store.js';
import { testDatabases } from '../store/test-databases.js';
import { SECRETS_CHANNEL, SecretService } from './secret-service.js';

const MARKER = 'S3CRET-MARKER-7f1c9d';

function fails(code: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof BulwarkError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes(MARKER), 'no value in a message');
    return true;
  };
}

for (const tdb of testDatabases()) {
  describe(`secret service (${tdb.name})`, () => {
    let store: Store;
    let secrets: SecretService;
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    let logged = '';
    const published: string[] = [];
    let unsubscribe: () => void = () => undefined;

    before(async () => {
      store = await tdb.open();
      const log = pino(
        { level: 'trace' },
        new Writable({
          write(chunk: Buffer, _enc, done) {
            logged += chunk.toString('utf8');
            done();
          },
        }),
      );
      secrets = new SecretService({ store, cipher: ephemeralCipher(), clock, log });
      unsubscribe = store.notifier.subscribe(SECRETS_CHANNEL, (path) => published.push(path));
    });
    after(async () => {
      unsubscribe();
      await store.close();
      assert.ok(!logged.includes(MARKER), 'no value was ever logged');
    });

    it('stores values as ciphertext and reads them back byte for byte', async () => {
      const binary = Buffer.concat([Buffer.from(MARKER), Buffer.from([0, 0xff, 0x0a, 0x0d])]);
      assert.deepEqual(await secrets.put('app/db-password', binary, 'alice'), { path: 'app/db-password', version: 1, maxVersions: 10, removedVersions: [] });
      const row = await getSecretVersion(store.db, 'app/db-password', 1);
      assert.match(row?.sealed ?? '', /^bwe1\.1\./);
      assert.ok(!(row?.sealed ?? '').includes(MARKER) && !(row?.sealed ?? '').includes(Buffer.from(MARKER).toString('base64')));
      const read = await secrets.get('app/db-password');
      assert.deepEqual(read.value, binary);
      assert.equal(read.version, 1);
      assert.equal(read.createdBy, 'alice');
      assert.deepEqual((await secrets.currentValue('app/db-password'))?.value, binary);
    });

    it('a ciphertext moved to another version or path does not decrypt', async () => {
      await secrets.put('bind/a', Buffer.from(`${MARKER}-1`), 'alice');
      await secrets.put('bind/a', Buffer.from(`${MARKER}-2`), 'alice');
      await secrets.put('bind/b', Buffer.from(`${MARKER}-b`), 'alice');
      const v1 = await getSecretVersion(store.db, 'bind/a', 1);
      await store.db.updateTable('secret_versions').set({ value: v1?.sealed ?? null }).where('path', '=', 'bind/a').where('version', '=', 2).execute();
      await store.db.updateTable('secret_versions').set({ value: v1?.sealed ?? null }).where('path', '=', 'bind/b').where('version', '=', 1).execute();
      await assert.rejects(secrets.get('bind/a', 2), (err: unknown) => err instanceof BulwarkError && err.code === 'DECRYPT_FAILED');
      await assert.rejects(secrets.get('bind/b'), (err: unknown) => err instanceof BulwarkError && err.code === 'DECRYPT_FAILED');
      assert.deepEqual((await secrets.get('bind/a', 1)).value, Buffer.from(`${MARKER}-1`));
    });

    it('versions, soft delete, rollback (undelete) and destroy', async () => {
      for (const n of [1, 2, 3]) {
        clock.advance(1000);
        await secrets.put('ver/x', Buffer.from(`${MARKER}-${n}`), n === 3 ? 'bob' : 'alice');
      }
      const removed = await secrets.remove('ver/x', {}, 'carol');
      assert.equal(removed.changed, true);
      assert.equal(removed.version.version, 3);
      assert.equal(removed.version.state, 'deleted');
      assert.equal((await secrets.remove('ver/x', {}, 'carol')).changed, false, 'deleting again changes nothing');
      await assert.rejects(secrets.get('ver/x'), fails('NOT_FOUND', /version 3 of secret "ver\/x" is deleted; bring it back with `bulwark secret rollback ver\/x --version 3`/));
      assert.equal(await secrets.currentValue('ver/x'), undefined);
      assert.deepEqual([...(await secrets.currentVersions(['ver/x', 'app/db-password']))], [['app/db-password', 1]]);
      assert.deepEqual((await secrets.get('ver/x', 2)).value, Buffer.from(`${MARKER}-2`), 'older versions stay readable');

      const rolled = await secrets.rollback('ver/x', 3, 'dave');
      assert.equal(rolled.version, 4);
      assert.equal(rolled.from, 3);
      const current = await secrets.get('ver/x');
      assert.equal(current.version, 4);
      assert.equal(current.createdBy, 'dave');
      assert.deepEqual(current.value, Buffer.from(`${MARKER}-3`));

      const destroyed = await secrets.remove('ver/x', { version: 1, destroy: true }, 'carol');
      assert.equal(destroyed.version.state, 'destroyed');
      assert.equal((await getSecretVersion(store.db, 'ver/x', 1))?.sealed, null, 'the ciphertext is erased');
      await assert.rejects(secrets.get('ver/x', 1), fails('NOT_FOUND', /version 1 of secret "ver\/x" was destroyed/));
      await assert.rejects(secrets.rollback('ver/x', 1, 'dave'), fails('CONFLICT', /destroyed; there is no value to roll back to/));

      const listed = await secrets.versions('ver/x');
      assert.deepEqual(
        listed.versions.map((v) => [v.version, v.state, v.createdBy]),
        [
          [1, 'destroyed', 'alice'],
          [2, 'live', 'alice'],
          [3, 'deleted', 'bob'],
          [4, 'live', 'dave'],
        ],
      );
      assert.equal(listed.secret.currentVersion, 4);
      assert.equal(listed.secret.state, 'live');
      for (const p of ['ver/x']) assert.ok(published.filter((x) => x === p).length >= 6, 'every put, delete, rollback and destroy is published');
    });

    it('keeps at most max versions, and max can be changed on a put', async () => {
      for (let n = 1; n <= 4; n++) await secrets.put('keep/x', Buffer.from(`v${n}`), 'alice', n === 1 ? { maxVersions: 2 } : {});
      assert.deepEqual(
        (await secrets.versions('keep/x')).versions.map((v) => v.version),
        [3, 4],
      );
      await assert.rejects(secrets.get('keep/x', 1), fails('NOT_FOUND', /has no version 1 \(it keeps the last 2\)/));
      await assert.rejects(secrets.get('keep/x', 9), fails('NOT_FOUND', /has no version 9 \(its newest is 4\)/));
      const w = await secrets.put('keep/x', Buffer.from('v5'), 'alice', { maxVersions: 1 });
      assert.deepEqual(w.removedVersions, [3, 4]);
      await assert.rejects(secrets.put('keep/x', Buffer.from('v6'), 'alice', { maxVersions: 101 }), fails('BAD_REQUEST', /from 1 to 100/));
    });

    it('concurrent puts all land, each as its own version', async () => {
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => secrets.put('race/y', Buffer.from(`${MARKER}-${i}`), `w${i}`, { maxVersions: 100 })));
      assert.deepEqual(
        results.map((r) => r.version).sort((a, b) => a - b),
        Array.from({ length: 12 }, (_, i) => i + 1),
      );
      // Each version decrypts to the value of the writer that got it.
      for (const r of results) {
        const read = await secrets.get('race/y', r.version);
        assert.equal(read.value.toString(), `${MARKER}-${read.createdBy.slice(1)}`);
      }
    });

    it('lists by prefix through a visibility filter', async () => {
      await secrets.put('team/a', Buffer.from('x'), 'alice');
      await secrets.put('team/b', Buffer.from('x'), 'alice');
      await secrets.remove('team/b', {}, 'alice');
      const all = await secrets.list({ prefix: 'team/' });
      assert.deepEqual(
        all.map((s) => [s.path, s.state]),
        [
          ['team/a', 'live'],
          ['team/b', 'deleted'],
        ],
      );
      assert.deepEqual(
        (await secrets.list({ prefix: 'team/', visible: (p) => p === 'team/b' })).map((s) => s.path),
        ['team/b'],
      );
    });

    it('refuses bad input and unknown secrets with one clear line', async () => {
      await assert.rejects(secrets.put('/abs', Buffer.from(MARKER), 'a'), fails('BAD_REQUEST', /starts with "\/"/));
      await assert.rejects(secrets.put('ok/path', Buffer.alloc(0), 'a'), fails('BAD_REQUEST', /empty/));
      await assert.rejects(secrets.put('ok/path', randomBytes(64 * 1024 + 1), 'a'), fails('PAYLOAD_TOO_LARGE', /at most 65536/));
      await assert.rejects(secrets.get('no/such'), fails('NOT_FOUND', /no secret "no\/such"/));
      await assert.rejects(secrets.versions('no/such'), fails('NOT_FOUND', /no secret/));
      await assert.rejects(secrets.remove('no/such', {}, 'a'), fails('NOT_FOUND', /no secret/));
      await assert.rejects(secrets.rollback('no/such', 1, 'a'), fails('NOT_FOUND', /no secret/));
      assert.equal(await secrets.currentValue('no/such'), undefined);
    });
  });
}
