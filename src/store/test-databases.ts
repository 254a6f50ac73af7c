import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openStore } from './open.js';
import type { Store, StoreKind } from './store.js';

export interface TestDatabase {
  name: string;
  kind: StoreKind;
  /** A fresh, migrated, empty database; closing the store deletes it. */
  open: () => Promise<Store>;
  /** A second store on the same database as `store` (another "replica"); closing it keeps the data. */
  openTwin: (store: Store) => Promise<Store>;
}

const POSTGRES_ENV = 'BULWARK_TEST_POSTGRES_URL';
const locations = new WeakMap<Store, { url: string; schema?: string }>();
let explainedSkip = false;

const sqlite: TestDatabase = {
  name: 'sqlite',
  kind: 'sqlite',
  async open() {
    const dir = await mkdtemp(join(tmpdir(), 'bulwark-store-'));
    const url = join(dir, 'bulwark.db');
    const store = await openStore({ url });
    const close = store.close.bind(store);
    const wrapped: Store = {
      ...store,
      async close() {
        await close();
        await rm(dir, { recursive: true, force: true });
      },
    };
    locations.set(wrapped, { url });
    return wrapped;
  },
  async openTwin(store) {
    const at = locations.get(store);
    if (!at) throw new Error('openTwin needs a store from open()');
    return openStore({ url: at.url });
  },
};

function postgres(url: string): TestDatabase {
  return {
    name: 'postgres',
    kind: 'postgres',
    async open() {
      const schema = `t_${randomBytes(6).toString('hex')}`;
      const store = await openStore({ url, schema });
      const close = store.close.bind(store);
      const wrapped: Store = {
        ...store,
        async close() {
          await close();
          const client = new pg.Client({ connectionString: url });
          await client.connect();
          try {
            await client.query(`drop schema if exists "${schema}" cascade`);
          } finally {
            await client.end();
          }
        },
      };
      locations.set(wrapped, { url, schema });
      return wrapped;
    },
    async openTwin(store) {
      const at = locations.get(store);
      if (!at) throw new Error('openTwin needs a store from open()');
      return openStore({ url: at.url, ...(at.schema === undefined ? {} : { schema: at.schema }) });
    },
  };
}

/**
 * The databases every store test runs against: SQLite always, PostgreSQL when
 * BULWARK_TEST_POSTGRES_URL is set.
 *
 * @example
 * for (const tdb of testDatabases()) {
 *   describe(tdb.name, () => { it('…', async () => { const store = await tdb.open(); … }); });
 * }
 */
export function testDatabases(): TestDatabase[] {
  const url = process.env[POSTGRES_ENV];
  if (!url) {
    if (!explainedSkip) {
      explainedSkip = true;
      console.log(`PostgreSQL tests skipped: set ${POSTGRES_ENV}=postgres://user@host:5432/db to run them`);
    }
    return [sqlite];
  }
  return [sqlite, postgres(url)];
}
