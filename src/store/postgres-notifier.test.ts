import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from './test-databases.js';

const postgres = testDatabases().find((d) => d.kind === 'postgres');

describe('PostgreSQL notifications', { skip: postgres ? false : 'BULWARK_TEST_POSTGRES_URL is not set' }, () => {
  it('stay inside their schema: two clusters in one database do not hear each other', async () => {
    if (!postgres) return;
    const [a, b] = await Promise.all([postgres.open(), postgres.open()]);
    const twinOfA = await postgres.openTwin(a);
    try {
      const heardByB: string[] = [];
      const heardByTwin: string[] = [];
      b.notifier.subscribe('bulwark_scope_test', (p) => heardByB.push(p));
      twinOfA.notifier.subscribe('bulwark_scope_test', (p) => heardByTwin.push(p));
      await Promise.all([b.notifier.ready(), twinOfA.notifier.ready()]);
      await a.notifier.publish('bulwark_scope_test', 'hello');
      const deadline = Date.now() + 5000;
      while (heardByTwin.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(heardByTwin, ['hello'], 'a replica of the same schema hears it');
      // The same-schema copy has arrived, so a cross-schema one would have too.
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(heardByB, [], 'another schema does not');
    } finally {
      await twinOfA.close();
      await Promise.all([a.close(), b.close()]);
    }
  });
});
