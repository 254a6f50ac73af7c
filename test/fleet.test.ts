/**
 * The enrollment and membership flow against every database (SQLite always,
 * PostgreSQL when BULWARK_TEST_POSTGRES_URL is set), as kysely runs one suite per
 * dialect. The PostgreSQL servers of the whole test run live in this one file,
 * so they run one at a time (the suites of a file run in sequence).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { joinCluster } from '../src/agent/join.js';
import { createRootCa } from '../src/pki/ca.js';
import { createCsr } from '../src/pki/csr.js';
import { caPin } from '../src/pki/pin.js';
import type { NodeView, JoinTokenView } from '../src/protocol/api.js';
import { testDatabases } from '../src/store/test-databases.js';
import type { BulwarkError } from '../src/core/errors.js';
import {
  ShiftedClock,
  connectAgentSocket,
  enroll,
  joinAgent,
  once,
  postJoin,
  startTestServer,
  waitFor,
  withTempDir,
  type Enrolled,
  type ErrorJson,
  type TestAgent,
  type TestServer,
} from './harness.js';

for (const database of testDatabases()) {
  describe(`fleet on ${database.name}`, () => {
    describe('enrollment', () => {
      const clock = new ShiftedClock();
      let t: TestServer;
      const enrolled: Enrolled[] = [];

      before(async () => {
        t = await startTestServer({ database, clock });
      });
      after(async () => {
        for (const e of enrolled) await rm(e.dataDir, { recursive: true, force: true });
        await t?.close();
      });

      it('a node joins with a token and its labels; the node is recorded with a certificate', async () => {
        const before = await t.lastEventId();
        const e = await enroll(t, { labels: { env: 'prod', tier: 'web' } });
        enrolled.push(e);
        assert.match(e.identity.nodeId, /^node/);
        const node = await t.node(e.identity.nodeId);
        assert.equal(node.name, e.hostname);
        assert.deepEqual(node.labels, { env: 'prod', tier: 'web' });
        assert.equal(node.state, 'pending');
        assert.ok(node.certSerial);
        const joined = await t.waitForEvent('node.joined', { nodeId: node.id, afterId: before });
        assert.equal(joined.details.name, e.hostname);
        await t.waitForEvent('cert.issued', { nodeId: node.id, afterId: before });
      });

      it('refuses a single-use token the second time (TOKEN_USED_UP)', async () => {
        const token = await t.createJoinToken({ uses: 1 });
        enrolled.push(await enroll(t, { token: token.token }));
        await withTempDir('bulwark-it-agent-', async (dataDir) => {
          await assert.rejects(joinCluster({ servers: [t.server.agentUrl], token: token.token, caPin: t.server.caPin, dataDir, hostname: 'second' }), (err: BulwarkError) => {
            assert.equal(err.code, 'TOKEN_USED_UP');
            return true;
          });
        });
        const list = await t.api<{ tokens: JoinTokenView[] }>('GET', '/v1/join-tokens?all=true');
        assert.equal(list.json.tokens.find((x) => x.id === token.id)?.usesCount, 1);
      });

      it('accepts an N-use token N times', async () => {
        const token = await t.createJoinToken({ uses: 2, labels: { pool: 'a' } });
        enrolled.push(await enroll(t, { token: token.token }));
        enrolled.push(await enroll(t, { token: token.token }));
        await assert.rejects(enroll(t, { token: token.token }), { code: 'TOKEN_USED_UP' });
      });

      it('refuses an expired token (TOKEN_EXPIRED)', async () => {
        const token = await t.createJoinToken({ ttlSeconds: 60 });
        clock.offsetMs = 120_000;
        try {
          const res = await postJoin(t, { token: token.token, csr: await freshCsr(), hostname: 'late', agentVersion: 'test' });
          assert.equal(res.status, 401);
          assert.equal((res.json as ErrorJson).error.code, 'TOKEN_EXPIRED');
        } finally {
          clock.offsetMs = 0;
        }
      });

      it('refuses unknown, garbled and tampered tokens (TOKEN_INVALID)', async () => {
        const real = await t.createJoinToken();
        const last = real.token.at(-1) === 'a' ? 'b' : 'a';
        for (const token of ['garbage', 'bwj_nothing', `${real.token.slice(0, -1)}${last}`, 'x'.repeat(256)]) {
          const res = await postJoin(t, { token, csr: await freshCsr(), hostname: 'h', agentVersion: 'test' });
          assert.equal(res.status, 401, token);
          assert.equal((res.json as ErrorJson).error.code, 'TOKEN_INVALID', token);
        }
        await assert.rejects(enroll(t, { token: 'bwj.not.a.token' }), { code: 'TOKEN_INVALID' });
      });

      it('refuses a wrong --ca-pin before sending anything (CA_PIN_MISMATCH): no join attempt reaches the server', async () => {
        const token = await t.createJoinToken();
        const since = await t.lastEventId();
        const now = Date.now();
        const other = await createRootCa({ clusterName: 'other', notBefore: now - 60_000, notAfter: now + 86_400_000 });
        await withTempDir('bulwark-it-agent-', async (dataDir) => {
          await assert.rejects(joinCluster({ servers: [t.server.agentUrl], token: token.token, caPin: caPin(other.certPem), dataDir, hostname: 'pinned' }), {
            code: 'CA_PIN_MISMATCH',
          });
        });
        const list = await t.api<{ tokens: JoinTokenView[] }>('GET', '/v1/join-tokens?all=true');
        assert.equal(list.json.tokens.find((x) => x.id === token.id)?.usesCount, 0, 'the token is still unused');
        const seen = await t.events({ afterId: since });
        assert.deepEqual(
          seen.filter((e) => e.type.startsWith('node.')).map((e) => e.type),
          [],
          'neither node.join_refused nor node.joined',
        );
      });

      it('rate-limits failed joins per source address (RATE_LIMITED, 429 with retry-after)', async () => {
        const limited = await startTestServer({ database, joinFailuresPerMinute: 3 });
        try {
          for (let i = 0; i < 3; i++) {
            const res = await postJoin(limited, { token: `bad-${i}`, csr: await freshCsr(), hostname: 'h', agentVersion: 'test' });
            assert.equal(res.status, 401);
          }
          const refused = await postJoin(limited, { token: 'bad-4', csr: await freshCsr(), hostname: 'h', agentVersion: 'test' });
          assert.equal(refused.status, 429);
          assert.equal((refused.json as ErrorJson).error.code, 'RATE_LIMITED');
          const retryAfter = Number(refused.headers['retry-after']);
          assert.ok(retryAfter > 0 && retryAfter <= 60, `retry-after ${String(refused.headers['retry-after'])}`);
          // Even a good token is refused from that address until the window passes.
          const good = await limited.createJoinToken();
          await assert.rejects(enroll(limited, { token: good.token }), { code: 'RATE_LIMITED' });
          const list = await limited.api<{ tokens: JoinTokenView[] }>('GET', '/v1/join-tokens?all=true');
          assert.equal(list.json.tokens.find((x) => x.id === good.id)?.usesCount, 0);
          assert.equal((await limited.events({ type: 'node.join_refused' })).length, 3);
        } finally {
          await limited.close();
        }
      });
    });

    describe('membership', () => {
      let t: TestServer;
      const agents: TestAgent[] = [];

      before(async () => {
        t = await startTestServer({ database, heartbeatIntervalMs: 150, suspectAfterMissed: 4, offlineAfterMissed: 8 });
      });
      after(async () => {
        for (const a of agents) await a.close();
        await t?.close();
      });

      it('a joined agent becomes active and reports its facts (hostname from its root)', async () => {
        const since = await t.lastEventId();
        const a = await joinAgent(t, { labels: { env: 'prod' } });
        agents.push(a);
        const activated = await t.waitForEvent('node.activated', { nodeId: a.nodeId, afterId: since });
        assert.deepEqual(activated.details, { from: 'pending', to: 'active' });
        await t.waitForEvent('node.joined', { nodeId: a.nodeId, afterId: since });
        const node = await waitFor(async () => {
          const n = await t.node(a.nodeId);
          return n.facts !== null && n.state === 'active' ? n : undefined;
        });
        assert.equal(node.facts?.hostname, a.hostname);
        assert.equal(node.facts?.os.id, 'debian');
        assert.equal(node.facts?.kernel, '6.1.0-21-amd64');
        assert.equal(node.connected, true);
        assert.equal(node.protocolVersion, 1);
        assert.ok(node.agentVersion);
        // Heartbeats arrive and are acknowledged.
        const hb = await once<{ rttMs: number }>(a.agent, 'heartbeat');
        assert.ok(hb.rttMs >= 0);
      });

      it('silence makes a node suspect, then offline; it stays listed; back again it recovers', async () => {
        const a = await joinAgent(t);
        agents.push(a);
        await waitFor(async () => (await t.node(a.nodeId)).state === 'active');
        await a.stop();
        const stoppedAt = await t.lastEventId();
        const suspect = await t.waitForEvent('node.suspect', { nodeId: a.nodeId, afterId: stoppedAt });
        const offline = await t.waitForEvent('node.offline', { nodeId: a.nodeId, afterId: stoppedAt });
        assert.ok(offline.id > suspect.id, 'suspect comes before offline');
        assert.equal(offline.details.to, 'offline');

        const listed = await t.api<{ nodes: NodeView[] }>('GET', '/v1/nodes');
        const node = listed.json.nodes.find((n) => n.id === a.nodeId);
        assert.ok(node, 'an offline node stays listed');
        assert.equal(node.state, 'offline');
        assert.equal(node.connected, false);
        assert.ok(node.lastSeenAt !== null && node.lastSeenAt > 0, 'lastSeenAt is kept');
        const offlineOnly = await t.api<{ nodes: NodeView[] }>('GET', '/v1/nodes?state=offline');
        assert.ok(offlineOnly.json.nodes.some((n) => n.id === a.nodeId));

        const beforeRestart = await t.lastEventId();
        await a.restart();
        const recovered = await t.waitForEvent('node.recovered', { nodeId: a.nodeId, afterId: beforeRestart });
        assert.equal(recovered.details.from, 'offline');
        assert.equal((await t.node(a.nodeId)).state, 'active');
      });

      it('removing a node closes its live connection (fatal NODE_REMOVED) and refuses its certificate afterwards', async () => {
        const a = await joinAgent(t);
        agents.push(a);
        await waitFor(async () => (await t.node(a.nodeId)).connected);
        const fatal = once<BulwarkError>(a.agent, 'fatal');
        const res = await t.api<NodeView>('DELETE', `/v1/nodes/${a.nodeId}`);
        assert.equal(res.status, 200);
        assert.equal(res.json.state, 'removed');
        assert.equal((await fatal).code, 'NODE_REMOVED');
        await waitFor(async () => !(await t.node(a.nodeId)).connected);

        const revoked = await t.waitForEvent('cert.revoked', { nodeId: a.nodeId });
        assert.equal(revoked.details.reason, 'node removed');
        await t.waitForEvent('node.removed', { nodeId: a.nodeId });

        const creds = await a.credentials();
        const again = await connectAgentSocket(t.server.agentUrl, { ca: creds.caPem, cert: creds.certPem, key: creds.keyPem });
        assert.equal(again.kind, 'http', `expected an HTTP refusal at the upgrade, got ${again.kind}`);
        if (again.kind === 'http') {
          assert.equal(again.status, 403);
          assert.ok(['NODE_REMOVED', 'CERT_REVOKED'].includes(again.json?.error.code ?? ''), again.body);
        }
        // Gone from the default list, still there with includeRemoved.
        const listed = await t.api<{ nodes: NodeView[] }>('GET', '/v1/nodes');
        assert.ok(!listed.json.nodes.some((n) => n.id === a.nodeId));
        const all = await t.api<{ nodes: NodeView[] }>('GET', '/v1/nodes?includeRemoved=true');
        assert.equal(all.json.nodes.find((n) => n.id === a.nodeId)?.state, 'removed');
        // Removing twice is a conflict, not a crash.
        const twice = await t.api<ErrorJson>('DELETE', `/v1/nodes/${a.nodeId}`);
        assert.equal(twice.status, 409);
        assert.equal(twice.json.error.code, 'CONFLICT');
      });
    });

    describe('node selection by labels', () => {
      let t: TestServer;
      const enrolled: Enrolled[] = [];
      const ids: Record<string, string[]> = { prod: [], staging: [], gpu: [] };

      before(async () => {
        t = await startTestServer({ database });
        const prod = await t.createJoinToken({ uses: 2, labels: { env: 'prod' } });
        const staging = await t.createJoinToken({ labels: { env: 'staging' } });
        const gpu = await t.createJoinToken({ labels: { env: 'dev', gpu: 'a100' } });
        for (const [kind, token] of [['prod', prod], ['prod', prod], ['staging', staging], ['gpu', gpu]] as const) {
          const e = await enroll(t, { token: token.token });
          enrolled.push(e);
          ids[kind]?.push(e.identity.nodeId);
        }
      });
      after(async () => {
        for (const e of enrolled) await rm(e.dataDir, { recursive: true, force: true });
        await t?.close();
      });

      const select = async (selector: string): Promise<string[]> => {
        const res = await t.api<{ nodes: NodeView[] }>('GET', `/v1/nodes?selector=${encodeURIComponent(selector)}`);
        assert.equal(res.status, 200, res.body);
        return res.json.nodes.map((n) => n.id).sort();
      };

      it('env=prod selects only the prod nodes', async () => {
        const res = await t.api<{ nodes: NodeView[] }>('GET', '/v1/nodes?selector=env%3Dprod');
        assert.equal(res.status, 200);
        assert.equal(res.json.nodes.length, 2);
        assert.ok(res.json.nodes.every((n) => n.labels.env === 'prod'));
        assert.deepEqual(await select('env=prod'), [...(ids.prod ?? [])].sort());
      });

      it('set-based and existence selectors', async () => {
        assert.deepEqual(await select('env in (prod,staging)'), [...(ids.prod ?? []), ...(ids.staging ?? [])].sort());
        assert.deepEqual(await select('!gpu'), [...(ids.prod ?? []), ...(ids.staging ?? [])].sort());
        assert.deepEqual(await select('gpu'), [...(ids.gpu ?? [])].sort());
        assert.deepEqual(await select('env!=prod'), [...(ids.staging ?? []), ...(ids.gpu ?? [])].sort());
        assert.deepEqual(await select('env notin (prod), !gpu'), [...(ids.staging ?? [])].sort());
        assert.deepEqual(await select(''), [...(ids.prod ?? []), ...(ids.staging ?? []), ...(ids.gpu ?? [])].sort());
      });

      it('a malformed selector is a 400 INVALID_SELECTOR', async () => {
        for (const bad of ['env in (prod', 'env ~ prod', '=prod', 'env in (a b)']) {
          const res = await t.api<ErrorJson>('GET', `/v1/nodes?selector=${encodeURIComponent(bad)}`);
          assert.equal(res.status, 400, `${bad}: ${res.body}`);
          assert.equal(res.json.error.code, 'INVALID_SELECTOR', bad);
        }
      });
    });
  });
}

async function freshCsr(): Promise<string> {
  return (await createCsr({ commonName: 'test' })).csrPem;
}
