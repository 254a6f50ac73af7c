import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { systemClock } from '../src/core/clock.js';
import { createLogger } from '../src/core/logger.js';
import type { AgentSession } from '../src/server/agent-session.js';
import { AuditService } from '../src/server/audit-service.js';
import { getResultByRequest, insertRun } from '../src/store/audits.js';
import { joinAgent, startTestServer } from './harness.js';

/**
 * The race behind runs that waited for their deadline: a request dispatched to a
 * channel that closes while the request is being recorded as sent. The channel's
 * close finds nothing sent to forget; the record must then be undone by dispatch
 * itself, so the request is offered again when the agent is back.
 */
test('a request recorded as sent to a channel that closed meanwhile is offered again on the next connection, not left to its deadline', async () => {
  const t = await startTestServer();
  try {
    const node = await joinAgent(t);
    // The server's own service then has no channel to the node; the one below gets a stand-in.
    await node.stop();
    const sent: string[] = [];
    let looks = 0;
    let closesOnSecondLook = true;
    const channel = {
      closed: false,
      ws: {
        OPEN: 1,
        // Open when dispatch first looks; closed by the time the request is recorded as sent.
        get readyState(): number {
          looks++;
          return closesOnSecondLook && looks > 1 ? 3 : 1;
        },
      },
      sendAudit: (request: { requestId: string }) => void sent.push(request.requestId),
    } as unknown as AgentSession;
    const s = t.server;
    const audits = new AuditService({
      store: s.store,
      clock: systemClock,
      log: createLogger({ level: 'silent' }),
      events: s.events,
      access: s.access,
      nodes: s.nodes,
      audit: s.audit,
      session: (id) => (id === node.nodeId ? channel : undefined),
    });
    try {
      // Recorded directly, not announced: only the explicit dispatches below send it.
      const runId = randomUUID();
      const requestId = randomUUID();
      const now = Date.now();
      await insertRun(s.store.db, {
        id: runId,
        trigger: 'manual',
        scheduleId: null,
        requestedBy: 'test',
        selector: '',
        spec: { policies: [], vulnerabilities: false, tlsListeners: false, tlsTargets: [] },
        createdAt: now,
        deadlineAt: now + 600_000,
        nodes: [{ id: node.nodeId, name: node.hostname, requestId }],
      });

      await audits.dispatch(runId);
      assert.deepEqual(sent, [], 'nothing is sent into a closed channel');
      assert.equal((await getResultByRequest(s.store.db, requestId))?.dispatchedAt, null, 'the request is not recorded as sent');

      // The agent is back: the request goes out, once.
      closesOnSecondLook = false;
      await audits.dispatch(runId);
      assert.deepEqual(sent, [requestId]);
      assert.notEqual((await getResultByRequest(s.store.db, requestId))?.dispatchedAt, null);
      await audits.dispatch(runId);
      assert.deepEqual(sent, [requestId], 'a request recorded as sent is not sent again');
    } finally {
      audits.stop();
    }
  } finally {
    await t.close();
  }
});
