import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { BulwarkError } from '../core/errors.js';
import { MIGRATIONS } from './migrations/migrate.js';
import { insertNode } from './nodes.js';
import { MAX_NOTIFY_PAYLOAD_BYTES, openStore, type Store } from './open.js';
import { testDatabases } from './test-databases.js';

const T0 = Date.UTC(2026, 0, 1);

function waitFor(predicate: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (predicate()) resolve();
      else if (Date.now() > deadline) reject(new Error('timed out waiting'));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

const settle = () => new Promise((r) => setTimeout(r, 300));

for (const tdb of testDatabases()) {
  describe(`store (${tdb.name})`, () => {
    let store: Store;
    before(async () => {
      store = await tdb.open();
    });
    after(async () => {
      await store.close();
    });

    it('reports its kind', () => {
      assert.equal(store.kind, tdb.kind);
    });

    it('is migrated, and opening it again changes nothing', async () => {
      const twin = await tdb.openTwin(store);
      try {
        const applied = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(twin.db);
        assert.deepEqual(applied.rows.map((r) => r.name), Object.keys(MIGRATIONS).sort());
        assert.deepEqual(await twin.db.selectFrom('nodes').selectAll().execute(), []);
      } finally {
        await twin.close();
      }
    });

    it('returns counts and bigint times as numbers', async () => {
      await insertNode(store.db, {
        id: 'node_n',
        name: 'n',
        labels: {},
        state: 'pending',
        facts: null,
        factsHash: null,
        certSerial: null,
        certNotAfter: 253_402_300_799_000,
        agentVersion: null,
        protocolVersion: null,
        joinTokenId: null,
        joinedAt: T0,
        lastSeenAt: null,
        stateChangedAt: T0,
        removedAt: null,
      });
      const row = await store.db.selectFrom('nodes').select((eb) => [eb.fn.countAll().as('n'), eb.fn.max('cert_not_after').as('max')]).executeTakeFirstOrThrow();
      assert.equal(row.n, 1);
      assert.equal(row.max, 253_402_300_799_000);
      const raw = await sql<{ n: unknown }>`select count(*) as n from nodes`.execute(store.db);
      assert.equal(raw.rows[0]?.n, 1);
    });

    it('delivers a published message exactly once to each local subscriber', async () => {
      const got: string[] = [];
      const other: string[] = [];
      const off = store.notifier.subscribe('bulwark_test', (p) => got.push(p));
      const offOther = store.notifier.subscribe('bulwark_other', (p) => other.push(p));
      await store.notifier.ready();
      await store.notifier.publish('bulwark_test', 'one');
      await store.notifier.publish('bulwark_test', '{"n":2,"text":"ünïcode"}');
      await settle();
      assert.deepEqual(got, ['one', '{"n":2,"text":"ünïcode"}']);
      assert.deepEqual(other, []);
      off();
      await store.notifier.publish('bulwark_test', 'three');
      await settle();
      assert.equal(got.length, 2);
      offOther();
    });

    it('keeps delivering when a subscriber throws', async () => {
      const got: string[] = [];
      const offBad = store.notifier.subscribe('bulwark_throw', () => {
        throw new Error('subscriber bug');
      });
      const off = store.notifier.subscribe('bulwark_throw', (p) => got.push(p));
      await store.notifier.publish('bulwark_throw', 'x');
      assert.deepEqual(got, ['x']);
      offBad();
      off();
    });

    it('refuses bad channels and oversized payloads', async () => {
      assert.throws(() => store.notifier.subscribe('Bad-Channel; drop', () => undefined), BulwarkError);
      await assert.rejects(store.notifier.publish('bad channel', 'x'), BulwarkError);
      await assert.rejects(store.notifier.publish('bulwark_test', 'x'.repeat(MAX_NOTIFY_PAYLOAD_BYTES + 1)), { code: 'PAYLOAD_TOO_LARGE' });
      await store.notifier.publish('bulwark_test', 'x'.repeat(MAX_NOTIFY_PAYLOAD_BYTES));
    });

    if (tdb.kind === 'sqlite') {
      it('always grants the leader lock to the process owning the file', async () => {
        const lock = store.leaderLock('scheduler');
        assert.equal(lock.held, false);
        assert.equal(await lock.tryAcquire(), true);
        assert.equal(lock.held, true);
        await lock.release();
        assert.equal(lock.held, false);
      });
    }

    if (tdb.kind === 'postgres') {
      it('delivers across two stores on the same database', async () => {
        const twin = await tdb.openTwin(store);
        try {
          const here: string[] = [];
          const there: string[] = [];
          const offHere = store.notifier.subscribe('bulwark_events', (p) => here.push(p));
          const offThere = twin.notifier.subscribe('bulwark_events', (p) => there.push(p));
          await Promise.all([store.notifier.ready(), twin.notifier.ready()]);
          await store.notifier.publish('bulwark_events', 'from-a');
          await twin.notifier.publish('bulwark_events', 'from-b');
          await waitFor(() => here.length >= 2 && there.length >= 2);
          await settle();
          assert.deepEqual(here.sort(), ['from-a', 'from-b']);
          assert.deepEqual(there.sort(), ['from-a', 'from-b']);
          offHere();
          offThere();
        } finally {
          await twin.close();
        }
      });

      it('re-listens after its connection is killed, and loses the leader lock with it', async () => {
        const twin = await tdb.openTwin(store);
        const channel = `bulwark_re_${randomBytes(4).toString('hex')}`;
        const name = `leader-${randomBytes(4).toString('hex')}`;
        try {
          const there: string[] = [];
          twin.notifier.subscribe(channel, (p) => there.push(p));
          await twin.notifier.ready();
          const lock = twin.leaderLock(name);
          assert.equal(await lock.tryAcquire(), true);
          const killed = await sql<{ ok: boolean }>`select pg_terminate_backend(pid) as ok from pg_stat_activity
            where query like ${`listen "${channel}\_%`}
               or pid in (select pid from pg_locks where locktype = 'advisory'
                          and ((classid::bigint << 32) | objid::bigint) = hashtext(current_schema() || ':' || ${name})::bigint)`.execute(store.db);
          assert.equal(killed.rows.length, 2);
          await waitFor(() => !lock.held);
          assert.equal(await store.leaderLock(name).tryAcquire(), true);
          await waitFor(() => {
            void store.notifier.publish(channel, 'after');
            return there.length > 0;
          }, 10_000);
          assert.equal(there[0], 'after');
        } finally {
          await twin.close();
        }
      });

      it('holds the leader lock in one store at a time and frees it on release or close', async () => {
        const twin = await tdb.openTwin(store);
        const name = `leader-${randomBytes(4).toString('hex')}`;
        const a = store.leaderLock(name);
        const b = twin.leaderLock(name);
        try {
          assert.equal(await a.tryAcquire(), true);
          assert.equal(await a.tryAcquire(), true);
          assert.equal(await b.tryAcquire(), false);
          assert.equal(b.held, false);
          assert.equal(store.leaderLock(name).held, false);
          assert.equal(await store.leaderLock(name).tryAcquire(), false, 'a second lock object is a second session');
          await a.release();
          assert.equal(a.held, false);
          assert.equal(await b.tryAcquire(), true);
          assert.equal(await a.tryAcquire(), false);
          assert.equal(await store.leaderLock(`${name}-other`).tryAcquire(), true);
        } finally {
          await twin.close();
        }
        assert.equal(await a.tryAcquire(), true, 'closing the store released its lock');
        await a.release();
      });
    }
  });
}

describe('openStore (sqlite)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bulwark-open-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the directory and a 0600 file, with WAL and full sync', async () => {
    const path = join(dir, 'nested', 'data', 'bulwark.db');
    const store = await openStore({ url: `sqlite:${path}` });
    try {
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      const pragma = async (name: string) => (await sql.raw(`pragma ${name}`).execute(store.db)).rows[0];
      assert.deepEqual(await pragma('journal_mode'), { journal_mode: 'wal' });
      assert.deepEqual(await pragma('synchronous'), { synchronous: 2 });
      assert.deepEqual(await pragma('foreign_keys'), { foreign_keys: 1 });
      assert.deepEqual(await pragma('busy_timeout'), { timeout: 5000 });
      await store.db.insertInto('cluster_state').values({ key: 'k', value: 'v', updated_at: T0 }).execute();
      assert.equal((await stat(`${path}-wal`)).mode & 0o777, 0o600);
    } finally {
      await store.close();
    }
    const again = await openStore({ url: path });
    try {
      assert.equal((await again.db.selectFrom('cluster_state').select('value').executeTakeFirst())?.value, 'v');
    } finally {
      await again.close();
    }
  });

  it('opens an in-memory database', async () => {
    const store = await openStore({ url: ':memory:' });
    assert.equal(store.kind, 'sqlite');
    assert.deepEqual(await store.db.selectFrom('nodes').selectAll().execute(), []);
    await store.close();
  });
});

const pgUrl = process.env.BULWARK_TEST_POSTGRES_URL;
describe('openStore (postgres)', { skip: pgUrl ? false : 'BULWARK_TEST_POSTGRES_URL is not set' }, () => {
  const url = pgUrl ?? '';

  async function dropSchema(schema: string): Promise<void> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`drop schema if exists "${schema}" cascade`);
    await client.end();
  }

  it('migrates once when two replicas start at the same moment', async () => {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    try {
      const stores = await Promise.all([openStore({ url, schema }), openStore({ url, schema }), openStore({ url, schema })]);
      const applied = await sql<{ name: string }>`select name from kysely_migration`.execute(stores[0]!.db);
      assert.deepEqual(applied.rows.map((r) => r.name), Object.keys(MIGRATIONS));
      const tables = await sql<{ n: number }>`select count(*) as n from information_schema.tables where table_schema = ${schema}`.execute(stores[0]!.db);
      // The 28 tables of database.ts and Kysely's two bookkeeping tables.
      assert.equal(tables.rows[0]?.n, 30);
      await Promise.all(stores.map((s) => s.close()));
    } finally {
      await dropSchema(schema);
    }
  });

  it('refuses a schema name that is not a plain identifier', async () => {
    await assert.rejects(openStore({ url, schema: 'x"; drop table y; --' }), { code: 'CONFIG_INVALID' });
  });

  it('fails with UNAVAILABLE when the server cannot be reached', async () => {
    await assert.rejects(openStore({ url: 'postgres://postgres@127.0.0.1:1/test' }), { code: 'UNAVAILABLE' });
  });
});
