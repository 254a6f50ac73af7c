import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { silentLogger } from '../src/core/logger.js';
import type { BulwarkError } from '../src/core/errors.js';
import { Agent } from '../src/agent/agent.js';
import { joinCluster } from '../src/agent/join.js';
import { MASTER_KEY_FILE, Server } from '../src/server/server.js';
import { loadOrCreateMasterKey } from '../src/keyring/master-key-file.js';

const url = process.env.BULWARK_TEST_POSTGRES_URL;

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('several server replicas on one PostgreSQL', { skip: url ? false : 'BULWARK_TEST_POSTGRES_URL is not set: replicas need PostgreSQL' }, () => {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  let dir: string;
  let a: Server;
  let b: Server;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bulwark-replicas-'));
    // Replicas share the database and the master key file; each has its own data directory.
    await loadOrCreateMasterKey(join(dir, 'a', MASTER_KEY_FILE));
    await mkdir(join(dir, 'b'), { recursive: true, mode: 0o700 });
    await copyFile(join(dir, 'a', MASTER_KEY_FILE), join(dir, 'b', MASTER_KEY_FILE));
    const options = (name: string) => ({
      dataDir: join(dir, name),
      db: url ?? '',
      dbSchema: schema,
      api: { port: 0 },
      agent: { host: '127.0.0.1', port: 0 },
      heartbeatIntervalMs: 150,
      suspectAfterMissed: 4,
      offlineAfterMissed: 8,
      logger: silentLogger,
    });
    // Started together on an empty database: they must agree on one cluster CA.
    [a, b] = await Promise.all([Server.start(options('a')), Server.start(options('b'))]);
  });

  after(async () => {
    await Promise.allSettled([a?.close(), b?.close()]);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`drop schema if exists "${schema}" cascade`);
    await client.end();
    await rm(dir, { recursive: true, force: true });
  });

  it('both replicas serve the same CA', () => {
    assert.equal(a.caPin, b.caPin);
    assert.equal([a.adminToken, b.adminToken].filter(Boolean).length, 1, 'exactly one replica created the cluster and its admin token');
  });

  it('an agent joined through replica A with B listed for failover; removal on A closes its connection on B', async () => {
    const { token } = await a.joinTokens.create({ ttlMs: 60_000, uses: 1, labels: { env: 'prod' }, createdBy: 'test' });
    const root = join(dir, 'root');
    await mkdir(join(root, 'proc/sys/kernel'), { recursive: true });
    await writeFile(join(root, 'proc/sys/kernel/hostname'), 'replica-node\n');
    const agentDir = join(dir, 'agent');
    // B first in the list: the agent connects to B, the operator talks to A.
    await joinCluster({ servers: [b.agentUrl, a.agentUrl], token, caPin: a.caPin, dataDir: agentDir });
    const agent = await Agent.start({ dataDir: agentDir, root, logger: silentLogger });
    try {
      await until(() => b.gateway.isConnected(agent.nodeId), 'the agent to connect to replica B');
      await until(async () => (await a.nodes.get(agent.nodeId)).state === 'active', 'replica A to see the node active');
      const fatal = new Promise<BulwarkError>((resolve) => agent.once('fatal', resolve));
      await a.nodes.remove(agent.nodeId, 'test');
      const err = await fatal;
      assert.equal(err.code, 'NODE_REMOVED');
      await until(() => !b.gateway.isConnected(agent.nodeId), 'replica B to drop the connection');
    } finally {
      await agent.stop();
    }
  });
});
