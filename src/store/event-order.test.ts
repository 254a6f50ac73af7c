import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from './test-databases.js';
import { appendEvent, listEvents } from './events.js';

for (const tdb of testDatabases()) {
  describe(`event stream (${tdb.name})`, () => {
    it('a reader resuming after the last id it saw misses nothing while two replicas append concurrently', async () => {
      const store = await tdb.open();
      // Replicas exist only on PostgreSQL. A second synchronous SQLite connection in
      // one process would block the event loop on the first one's open transaction.
      const twin = tdb.kind === 'postgres' ? await tdb.openTwin(store) : store;
      try {
        const total = 300;
        const seen = new Set<number>();
        let after = 0;
        let writing = true;
        const reader = (async () => {
          while (writing || seen.size < total) {
            // Whether writing had finished is read before the query: a query that started while the
            // last append was still committing may come back empty, and must not end the reading.
            const doneBefore = !writing;
            const page = await listEvents(store.db, { afterId: after, limit: 1000 });
            for (const e of page) seen.add(e.id);
            after = page.at(-1)?.id ?? after;
            if (doneBefore && page.length === 0) break;
          }
        })();
        const writers = Array.from({ length: total }, (_, i) =>
          appendEvent((i % 2 === 0 ? store : twin).db, { time: i, type: 'test.concurrent', nodeId: null, details: { i } }),
        );
        const ids = await Promise.all(writers).finally(() => {
          writing = false;
        });
        await reader;
        const missed = ids.filter((id) => !seen.has(id));
        assert.deepEqual(missed, [], `the reader skipped ${missed.length} committed events`);
      } finally {
        if (twin !== store) await twin.close();
        await store.close();
      }
    });
  });
}
