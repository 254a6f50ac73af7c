/**
 * A real agent process (the CLI, run from source) against an in-process
 * server: `agent up` joins and runs, SIGKILL takes it away without a goodbye,
 * `agent run` from the same data directory brings it back.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeFixtureTree } from '../src/host/fixture-tree.js';
import { CLI_ENTRY, cliAvailable, makeHostFixture, spawnAgentProcess, startTestServer, waitFor, type AgentProcess, type TestServer } from './harness.js';

describe('agent process', () => {
  const processes: AgentProcess[] = [];
  const cleanup: (() => Promise<void>)[] = [];

  after(async () => {
    for (const p of processes) await p.kill('SIGKILL');
    for (const c of cleanup.reverse()) await c();
  });

  it('joins with `agent up`, goes suspect then offline when SIGKILLed, and recovers with `agent run`', async (ctx) => {
    if (!cliAvailable()) {
      ctx.skip(`the CLI (${CLI_ENTRY}) is not there yet`);
      return;
    }
    const t: TestServer = await startTestServer({ heartbeatIntervalMs: 200, suspectAfterMissed: 4, offlineAfterMissed: 8 });
    cleanup.push(() => t.close());
    const hostname = `proc-${randomBytes(3).toString('hex')}`;
    const root = await makeHostFixture(hostname);
    cleanup.push(() => removeFixtureTree(root));
    const dataDir = await mkdtemp(join(tmpdir(), 'bulwark-it-agentproc-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const token = await t.createJoinToken({ labels: { kind: 'process' } });

    const diagnose = (p: AgentProcess) => `\n--- agent output ---\n${p.output()}`;
    const first = spawnAgentProcess('up', {
      server: t.server.agentUrl,
      token: token.token,
      caPin: token.caPin,
      dataDir,
      root,
      hostname,
      heartbeatInterval: '200ms',
    });
    processes.push(first);

    const config = await waitFor(
      async () => {
        if (first.child.exitCode !== null) throw new Error(`agent up exited ${first.child.exitCode}${diagnose(first)}`);
        return JSON.parse(await readFile(join(dataDir, 'agent.json'), 'utf8')) as { nodeId: string };
      },
      { timeoutMs: 60_000, message: 'agent up writes its identity' },
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}${diagnose(first)}`);
    });
    const nodeId = config.nodeId;
    await t.waitForEvent('node.activated', { nodeId }, { timeoutMs: 60_000, message: `node.activated${diagnose(first)}` });
    const active = await waitFor(async () => {
      const n = await t.node(nodeId);
      return n.state === 'active' && n.facts ? n : undefined;
    });
    assert.equal(active.name, hostname);
    assert.equal(active.facts?.hostname, hostname, 'facts come from --root');
    assert.deepEqual(active.labels, { kind: 'process' });
    assert.equal(active.connected, true);

    const killedAt = await t.lastEventId();
    await first.kill('SIGKILL');
    assert.equal((await first.exited).signal, 'SIGKILL');
    await t.waitForEvent('node.suspect', { nodeId, afterId: killedAt });
    await t.waitForEvent('node.offline', { nodeId, afterId: killedAt });
    const offline = await t.node(nodeId);
    assert.equal(offline.state, 'offline');
    assert.equal(offline.connected, false);
    assert.ok(offline.lastSeenAt !== null);

    const restartAt = await t.lastEventId();
    const second = spawnAgentProcess('run', { dataDir, root, heartbeatInterval: '200ms' });
    processes.push(second);
    const recovered = await t.waitForEvent('node.recovered', { nodeId, afterId: restartAt }, { timeoutMs: 60_000, message: `node.recovered${diagnose(second)}` });
    assert.equal(recovered.details.from, 'offline');
    assert.equal((await t.node(nodeId)).state, 'active');
    // The token was spent once: the restart did not join again.
    const nodes = await t.api<{ nodes: { id: string }[] }>('GET', '/v1/nodes');
    assert.deepEqual(nodes.json.nodes.map((n) => n.id), [nodeId]);
    await second.kill('SIGTERM');
  });
});
