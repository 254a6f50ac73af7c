import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getApiToken, insertApiToken, listApiTokens, revokeApiToken, touchApiToken, type ApiTokenRecord } from './api-tokens.js';
import { consumeJoinTokenUse, getJoinToken, insertJoinToken, listJoinTokens, revokeJoinToken, type JoinTokenRecord } from './join-tokens.js';
import type { Store } from './store.js';
import { testDatabases } from './test-databases.js';

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

function joinToken(id: string, over: Partial<JoinTokenRecord> = {}): JoinTokenRecord {
  return {
    id,
    secretHash: `hash-${id}`,
    labels: { env: 'prod' },
    usesAllowed: 1,
    usesCount: 0,
    expiresAt: T0 + HOUR,
    createdAt: T0,
    createdBy: 'admin',
    revokedAt: null,
    description: null,
    ...over,
  };
}

function apiToken(id: string, over: Partial<ApiTokenRecord> = {}): ApiTokenRecord {
  return { id, secretHash: `hash-${id}`, name: id, role: 'admin', createdAt: T0, expiresAt: null, lastUsedAt: null, revokedAt: null, createdBy: null, ...over };
}

for (const tdb of testDatabases()) {
  describe(`join tokens (${tdb.name})`, () => {
    let store: Store;
    before(async () => {
      store = await tdb.open();
    });
    after(async () => {
      await store.close();
    });

    it('inserts and reads back', async () => {
      const rec = joinToken('jt_a', { labels: { env: 'prod', zone: 'a' }, usesAllowed: 3, description: 'rack 4' });
      await insertJoinToken(store.db, rec);
      assert.deepEqual(await getJoinToken(store.db, 'jt_a'), rec);
      assert.equal(await getJoinToken(store.db, 'jt_none'), undefined);
    });

    it('a one-use token consumed by 10 parallel calls succeeds exactly once', async () => {
      await insertJoinToken(store.db, joinToken('jt_race'));
      const results = await Promise.all(Array.from({ length: 10 }, () => consumeJoinTokenUse(store.db, 'jt_race', T0)));
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal((await getJoinToken(store.db, 'jt_race'))?.usesCount, 1);
    });

    it('a three-use token under 10 parallel calls succeeds exactly three times', async () => {
      await insertJoinToken(store.db, joinToken('jt_race3', { usesAllowed: 3 }));
      const results = await Promise.all(Array.from({ length: 10 }, () => consumeJoinTokenUse(store.db, 'jt_race3', T0)));
      assert.equal(results.filter(Boolean).length, 3);
      assert.equal((await getJoinToken(store.db, 'jt_race3'))?.usesCount, 3);
    });

    it('refuses expired, revoked and unknown tokens', async () => {
      await insertJoinToken(store.db, joinToken('jt_exp', { usesAllowed: 5 }));
      assert.equal(await consumeJoinTokenUse(store.db, 'jt_exp', T0 + HOUR), false);
      assert.equal(await consumeJoinTokenUse(store.db, 'jt_exp', T0 + HOUR - 1), true);
      await insertJoinToken(store.db, joinToken('jt_rev', { usesAllowed: 5 }));
      assert.equal(await revokeJoinToken(store.db, 'jt_rev', T0 + 1), true);
      assert.equal(await revokeJoinToken(store.db, 'jt_rev', T0 + 2), false);
      assert.equal((await getJoinToken(store.db, 'jt_rev'))?.revokedAt, T0 + 1);
      assert.equal(await consumeJoinTokenUse(store.db, 'jt_rev', T0), false);
      assert.equal(await consumeJoinTokenUse(store.db, 'jt_none', T0), false);
      assert.equal(await revokeJoinToken(store.db, 'jt_none', T0), false);
    });

    it('lists active tokens by default and all on request', async () => {
      await insertJoinToken(store.db, joinToken('jt_new', { createdAt: T0 + 100, usesAllowed: 2 }));
      const active = (await listJoinTokens(store.db, { now: T0 })).map((t) => t.id);
      assert.deepEqual(active, ['jt_new', 'jt_a', 'jt_exp']);
      const all = (await listJoinTokens(store.db, { now: T0, includeInactive: true })).map((t) => t.id);
      assert.deepEqual(all, ['jt_new', 'jt_a', 'jt_exp', 'jt_race', 'jt_race3', 'jt_rev']);
      assert.deepEqual((await listJoinTokens(store.db, { now: T0 + HOUR })).map((t) => t.id), []);
    });
  });

  describe(`api tokens (${tdb.name})`, () => {
    let store: Store;
    before(async () => {
      store = await tdb.open();
    });
    after(async () => {
      await store.close();
    });

    it('inserts, reads, touches, revokes and lists', async () => {
      const rec = apiToken('at_a', { expiresAt: T0 + HOUR });
      await insertApiToken(store.db, rec);
      await insertApiToken(store.db, apiToken('at_b', { createdAt: T0 + 1, role: 'viewer' }));
      assert.deepEqual(await getApiToken(store.db, 'at_a'), rec);
      assert.equal(await getApiToken(store.db, 'at_none'), undefined);

      await touchApiToken(store.db, 'at_a', T0 + 50);
      await touchApiToken(store.db, 'at_a', T0 + 40);
      assert.equal((await getApiToken(store.db, 'at_a'))?.lastUsedAt, T0 + 50);

      assert.equal(await revokeApiToken(store.db, 'at_b', T0 + 60), true);
      assert.equal(await revokeApiToken(store.db, 'at_b', T0 + 70), false);
      assert.equal(await revokeApiToken(store.db, 'at_none', T0), false);

      const list = await listApiTokens(store.db);
      assert.deepEqual(list.map((t) => t.id), ['at_a', 'at_b']);
      assert.equal(list[1]?.revokedAt, T0 + 60);
      assert.equal(list[1]?.role, 'viewer');
    });
  });
}
