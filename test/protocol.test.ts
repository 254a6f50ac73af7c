/**
 * The agent channel's protocol edges: version negotiation, malformed messages,
 * and a join request whose CSR does not verify.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import type { RawData } from 'ws';
import type { BulwarkError } from '../src/core/errors.js';
import { createCsr } from '../src/pki/csr.js';
import { CLOSE_CODES } from '../src/protocol/agent.js';
import type { JoinTokenView } from '../src/protocol/api.js';
import { connectAgentSocket, enroll, joinAgent, once, postJoin, startTestServer, waitClose, waitFor, type Enrolled, type ErrorJson, type TestAgent, type TestServer } from './harness.js';

interface ServerError {
  type: string;
  code?: string;
  fatal?: boolean;
}

describe('agent protocol', () => {
  let t: TestServer;
  let node: Enrolled;
  const agents: TestAgent[] = [];

  before(async () => {
    t = await startTestServer();
    node = await enroll(t);
  });
  after(async () => {
    for (const a of agents) await a.close();
    if (node) await rm(node.dataDir, { recursive: true, force: true });
    await t?.close();
  });

  const openRaw = async () => {
    const r = await connectAgentSocket(t.server.agentUrl, { ca: node.identity.caPem, cert: node.identity.certPem, key: node.identity.keyPem });
    assert.equal(r.kind, 'open');
    if (r.kind !== 'open') throw new Error('not open');
    const messages: ServerError[] = [];
    r.ws.on('message', (data: RawData) => messages.push(JSON.parse(data.toString()) as ServerError));
    return { ws: r.ws, messages };
  };

  it('an agent offering only protocol 99 is refused for good (PROTOCOL_UNSUPPORTED)', async () => {
    const a = await joinAgent(t, { protocolVersions: [99], waitConnected: false });
    agents.push(a);
    const fatal = await once<BulwarkError>(a.agent, 'fatal');
    assert.equal(fatal.code, 'PROTOCOL_UNSUPPORTED');
    assert.match(fatal.message, /99/);
    const n = await waitFor(async () => {
      const v = await t.node(a.nodeId);
      return v.connected ? undefined : v;
    });
    assert.equal(n.state, 'pending', 'a node that never said a valid hello is not activated');
    assert.deepEqual(await t.events({ type: 'node.activated', nodeId: a.nodeId }), []);
  });

  it('a message that is not JSON closes the connection with a protocol error', async () => {
    const { ws, messages } = await openRaw();
    ws.send('this is not json {');
    const closed = await waitClose(ws);
    assert.equal(closed.code, CLOSE_CODES.protocol);
    assert.equal(messages[0]?.type, 'error');
    assert.equal(messages[0]?.code, 'BAD_REQUEST');
    assert.equal(messages[0]?.fatal, true);
  });

  it('a message of an unknown shape closes the connection with a protocol error', async () => {
    const { ws, messages } = await openRaw();
    ws.send(JSON.stringify({ type: 'launch-missiles', target: 'all' }));
    assert.equal((await waitClose(ws)).code, CLOSE_CODES.protocol);
    assert.equal(messages[0]?.code, 'BAD_REQUEST');
  });

  it('anything before hello closes the connection with a protocol error', async () => {
    const { ws, messages } = await openRaw();
    ws.send(JSON.stringify({ type: 'heartbeat', seq: 1, sentAt: Date.now() }));
    assert.equal((await waitClose(ws)).code, CLOSE_CODES.protocol);
    assert.equal(messages[0]?.code, 'BAD_REQUEST');
  });

  it('binary garbage closes the connection with a protocol error', async () => {
    const { ws } = await openRaw();
    ws.send(Buffer.from([0xff, 0x00, 0xfe, 0x01]));
    assert.equal((await waitClose(ws)).code, CLOSE_CODES.protocol);
  });

  it('a join request whose CSR was tampered with is refused (400 INVALID_CSR) and spends no token use', async () => {
    const token = await t.createJoinToken();
    const marker = 'tamper-target-common-name';
    const { csrPem } = await createCsr({ commonName: marker });
    const body = csrPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    const der = Buffer.from(body, 'base64');
    const at = der.indexOf(Buffer.from(marker));
    assert.ok(at > 0, 'the common name is in the DER');
    der[at] = 'X'.charCodeAt(0); // same length, still DER: only the signature no longer verifies
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE REQUEST-----\n`;
    const res = await postJoin(t, { token: token.token, csr: tampered, hostname: 'tampered', agentVersion: 'test' });
    assert.equal(res.status, 400, res.body);
    assert.equal((res.json as ErrorJson).error.code, 'INVALID_CSR');
    const tokens = await t.api<{ tokens: JoinTokenView[] }>('GET', '/v1/join-tokens?all=true');
    assert.equal(tokens.json.tokens.find((x) => x.id === token.id)?.usesCount, 0, 'the CSR is checked before the token is spent');
    const refused = await t.waitForEvent('node.join_refused');
    assert.equal(refused.details.code, 'INVALID_CSR');
    // Not a CSR at all, and not PEM at all.
    for (const csr of ['-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', 'hello']) {
      const r = await postJoin(t, { token: token.token, csr, hostname: 'x', agentVersion: 'test' });
      assert.equal(r.status, 400);
      assert.equal((r.json as ErrorJson).error.code, 'INVALID_CSR');
    }
  });

  it('the join endpoint answers malformed requests with the error shape', async () => {
    const notJson = await postJoin(t, '{"token":');
    assert.equal(notJson.status, 400);
    assert.equal((notJson.json as ErrorJson).error.code, 'BAD_REQUEST');
    const missing = await postJoin(t, { token: 'x' });
    assert.equal(missing.status, 400);
    assert.equal((missing.json as ErrorJson).error.code, 'BAD_REQUEST');
    const huge = await postJoin(t, { token: 'x', csr: 'y'.repeat(100 * 1024), hostname: 'h', agentVersion: 't' });
    assert.equal(huge.status, 413);
    assert.equal((huge.json as ErrorJson).error.code, 'PAYLOAD_TOO_LARGE');
  });
});
