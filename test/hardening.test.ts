/**
 * Hardening of the agent listener, end to end with the real server and agents:
 * channels closed at certificate expiry do not hurt an agent that renews, a
 * refused renewal is retried, and join input is bounded.
 * (Deadlines, caps and the session checks are unit-tested with short limits in
 * src/server/agent-gateway.test.ts.)
 */
import { after, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkRenewedCertificate } from '../src/agent/agent.js';
import { loadIdentity } from '../src/agent/identity.js';
import { clean } from '../src/cli/output.js';
import type { BulwarkError } from '../src/core/errors.js';
import { createRootCa } from '../src/pki/ca.js';
import { createCsr } from '../src/pki/csr.js';
import { issueNodeCertificate } from '../src/pki/issue.js';
import { ShiftedClock, joinAgent, postJoin, startTestServer, waitFor, type ErrorJson, type TestAgent, type TestServer } from './harness.js';

describe('agent listener hardening (integration)', () => {
  const servers: TestServer[] = [];
  const agents: TestAgent[] = [];
  after(async () => {
    for (const a of agents) await a.close();
    for (const s of servers) await s.close();
  });

  it('M4: an agent keeps its channel across several short certificate lifetimes and never goes fatal', async () => {
    const t = await startTestServer({ nodeCertLifetimeMs: 6_000 });
    servers.push(t);
    const a = await joinAgent(t);
    agents.push(a);
    const renewed: string[] = [];
    const fatal: BulwarkError[] = [];
    a.agent.on('renewed', (r) => renewed.push(r.serial));
    a.agent.on('fatal', (err) => fatal.push(err));
    await waitFor(() => renewed.length >= 2, { timeoutMs: 30_000, message: 'two renewals' });
    await waitFor(() => a.agent.connected, { message: 'connected with the latest certificate' });
    assert.deepEqual(fatal, []);
    assert.equal(new Set(renewed).size, renewed.length);
  });

  it('L13: a refused renewal is retried with backoff on the open channel', async () => {
    const clock = new ShiftedClock();
    // A long idle timeout: moving the server clock must not make the channel look idle.
    const t = await startTestServer({ clock, nodeCertLifetimeMs: 3_600_000, offlineAfterMissed: 1_000 });
    servers.push(t);
    const a = await joinAgent(t);
    agents.push(a);
    const renewed: string[] = [];
    a.agent.on('renewed', (r) => renewed.push(r.serial));
    const since = await t.lastEventId();
    await a.agent.renewNow();
    // Refused: the certificate has not used half of its lifetime.
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(renewed, []);
    // Time passes on the server: the next attempt, by the agent alone, succeeds.
    clock.offsetMs = 35 * 60_000;
    await waitFor(() => renewed.length > 0, { timeoutMs: 15_000, message: 'the agent retried its renewal' });
    await t.waitForEvent('cert.renewed', { nodeId: a.nodeId, afterId: since });
  });

  it('M7: a join request with a host name that is not RFC 1123 is a BAD_REQUEST', async () => {
    const t = await startTestServer();
    servers.push(t);
    const token = await t.createJoinToken();
    const { csrPem } = await createCsr({ commonName: 'x' });
    for (const hostname of ['evil\u001b[2Jhost', 'a b', 'x'.repeat(254), 'under_score']) {
      const res = await postJoin(t, { token: token.token, csr: csrPem, hostname, agentVersion: 'test' });
      assert.equal(res.status, 400, hostname);
      assert.equal((res.json as ErrorJson).error.code, 'BAD_REQUEST');
    }
    const ok = await postJoin(t, { token: token.token, csr: csrPem, hostname: 'web-1.example.com', agentVersion: 'test' });
    assert.equal(ok.status, 200, ok.body);
  });
});

test('L10: clean() strips escape sequences and control characters but keeps text and tabs', () => {
  assert.equal(clean('db-1'), 'db-1');
  assert.equal(clean('a\tb'), 'a\tb');
  assert.equal(clean('\u001b[31mred\u001b[0m'), 'red');
  assert.equal(clean('x\u001b]0;pwned title\u0007y'), 'xy');
  assert.equal(clean('x\u001b]8;;https://evil\u001b\\link\u001b]8;;\u001b\\y'), 'xlinky');
  assert.equal(clean('line1\nline2\r\u0000\u0008'), 'line1line2');
  assert.equal(clean('c1\u009b31mx\u0085y'), 'c1xy');
  assert.equal(clean('del\u007f'), 'del');
  assert.equal(clean('bidi\u202egnp.exe'), 'bidignp.exe');
  assert.equal(clean('naïve 日本'), 'naïve 日本');
  assert.equal(clean('trailing\u001b'), 'trailing');
});

test('L15: a corrupt agent.json is CONFIG_INVALID, not a crash', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bulwark-identity-'));
  try {
    await writeFile(join(dir, 'agent.json'), '{"nodeId": "n", "clusterNa');
    await assert.rejects(loadIdentity(dir), { code: 'CONFIG_INVALID' });
    await writeFile(join(dir, 'agent.json'), '[]');
    await assert.rejects(loadIdentity(dir), { code: 'CONFIG_INVALID' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('L13: the agent accepts a renewed certificate only for its key, its node and the pinned CA', async () => {
  const now = Date.now();
  const ca = await createRootCa({ clusterName: 'c1', notBefore: now - 60_000, notAfter: now + 86_400_000 });
  const other = await createRootCa({ clusterName: 'c1', notBefore: now - 60_000, notAfter: now + 86_400_000 });
  const mine = await createCsr({ commonName: 'x' });
  const theirs = await createCsr({ commonName: 'x' });
  const issue = async (authority: typeof ca, csrPem: string, nodeId: string) =>
    (await issueNodeCertificate(authority, { csrPem, clusterName: 'c1', nodeId, notBefore: now - 1_000, notAfter: now + 3_600_000 })).certPem;
  const expected = { keyPem: mine.keyPem, caPem: ca.certPem, clusterName: 'c1', nodeId: 'node_a' };
  checkRenewedCertificate(await issue(ca, mine.csrPem, 'node_a'), expected);
  assert.throws(() => checkRenewedCertificate('garbage', expected), { code: 'CERT_UNKNOWN' });
  const [wrongKey, wrongNode, wrongCa] = await Promise.all([issue(ca, theirs.csrPem, 'node_a'), issue(ca, mine.csrPem, 'node_b'), issue(other, mine.csrPem, 'node_a')]);
  assert.throws(() => checkRenewedCertificate(wrongKey, expected), /key pair/);
  assert.throws(() => checkRenewedCertificate(wrongNode, expected), /does not name node node_a/);
  assert.throws(() => checkRenewedCertificate(wrongCa, expected), /pinned cluster CA/);
});
