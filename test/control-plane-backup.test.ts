import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openBackend } from '../src/backup/backend/open.js';
import { Repository } from '../src/backup/repository.js';
import { silentLogger } from '../src/core/logger.js';
import { backupControlPlane, restoreControlPlane } from '../src/server/control-plane-backup.js';
import { Server } from '../src/server/server.js';
import type { ServerOptions } from '../src/server/options.js';
import { dropSchema, makeHostFixture, POSTGRES_URL, REPO_ROOT, spawnAgentProcess, waitFor, type AgentProcess } from './harness.js';

const CLI = join(REPO_ROOT, 'bin', 'bulwark.js');

function bulwark(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

async function inject<T>(server: Server, token: string, method: string, url: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await server.api.inject({
    method: method as 'GET',
    url,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  return { status: res.statusCode, json: (res.body === '' ? undefined : JSON.parse(res.body)) as T };
}

interface NodeJson {
  id: string;
  state: string;
  connected: boolean;
}

async function connectedNode(server: Server, token: string, nodeId: string): Promise<NodeJson> {
  return waitFor(
    async () => {
      const res = await inject<NodeJson>(server, token, 'GET', `/v1/nodes/${nodeId}`);
      return res.status === 200 && res.json.connected && res.json.state === 'active' ? res.json : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 100, message: `node ${nodeId} connected` },
  );
}

/**
 * The disaster: a cluster with a real agent process and a secret is backed up
 * while it runs, the control plane is destroyed (data directory and database),
 * restored on "a fresh machine" (the same addresses), and the agent — never told
 * anything — reconnects with the certificate it had, and the secret is readable.
 */
async function disasterDrill(database: 'sqlite' | 'postgres'): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'bulwark-cp-'));
  const dataDir = join(work, 'server');
  const agentDir = join(work, 'agent');
  const repoDir = join(work, 'repo');
  const keyFile = join(work, 'repo.key');
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const dbOptions: Partial<ServerOptions> = database === 'postgres' ? { db: POSTGRES_URL as string, dbSchema: schema } : {};
  let agent: AgentProcess | undefined;
  const base = { heartbeatIntervalMs: 200, suspectAfterMissed: 10, offlineAfterMissed: 25, logger: silentLogger, ...dbOptions };
  let server: Server | undefined = await Server.start({ ...base, dataDir, api: { host: '127.0.0.1', port: 0 }, agent: { host: '127.0.0.1', port: 0 } });
  try {
    const adminToken = server.adminToken as string;
    const apiPort = Number(new URL(server.apiUrl).port);
    const agentPort = Number(new URL(server.agentUrl).port);
    const join_ = await inject<{ token: string; caPin: string }>(server, adminToken, 'POST', '/v1/join-tokens', { uses: 1, ttlSeconds: 600, labels: { role: 'db' } });
    assert.equal(join_.status, 201);
    const hostname = `cp-${randomBytes(3).toString('hex')}`;
    agent = spawnAgentProcess('up', { server: server.agentUrl, token: join_.json.token, caPin: join_.json.caPin, dataDir: agentDir, root: await makeHostFixture(hostname), hostname, heartbeatInterval: '200ms' });
    const identity = await waitFor(async () => JSON.parse(await readFile(join(agentDir, 'agent.json'), 'utf8')) as { nodeId: string }, { timeoutMs: 60_000 });
    await connectedNode(server, adminToken, identity.nodeId);
    const certBefore = await readFile(join(agentDir, 'node.crt'), 'utf8');
    const put = await inject(server, adminToken, 'PUT', '/v1/secrets/data/app/db', { value: Buffer.from('the marker secret').toString('base64') });
    assert.ok(put.status === 200 || put.status === 201, `secret put: ${put.status}`);

    // Back up while the server runs.
    await writeFile(keyFile, randomBytes(64), { mode: 0o600 });
    const repoFlags = ['--repo', repoDir, '--key-file', keyFile];
    assert.equal((await bulwark(['backup', 'init', ...repoFlags])).code, 0);
    if (database === 'sqlite') {
      const backed = await bulwark(['server', 'backup', ...repoFlags, '--data-dir', dataDir, '--json']);
      assert.equal(backed.code, 0, backed.stderr);
      assert.equal((JSON.parse(backed.stdout) as { database: string }).database, 'sqlite');
    } else {
      const repo = await Repository.open(openBackend(repoDir), { kind: 'key-file', bytes: await readFile(keyFile) });
      const { manifest } = await backupControlPlane(repo, { dataDir, db: POSTGRES_URL as string, schema });
      assert.equal(manifest.database, 'postgres');
      repo.close();
    }

    // The disaster: the control plane and everything on its disk (and its database) are gone.
    await server.close();
    server = undefined;
    await rm(dataDir, { recursive: true, force: true });
    if (database === 'postgres') await dropSchema(schema);
    await mkdir(dataDir);

    if (database === 'sqlite') {
      const restored = await bulwark(['server', 'restore', ...repoFlags, '--data-dir', dataDir, '--json']);
      assert.equal(restored.code, 0, restored.stderr);
      // Restoring over it again is refused: it would fork the cluster.
      const again = await bulwark(['server', 'restore', ...repoFlags, '--data-dir', dataDir]);
      assert.equal(again.code, 5);
      assert.match(again.stderr, /already holds a cluster/);
    } else {
      const repo = await Repository.open(openBackend(repoDir), { kind: 'key-file', bytes: await readFile(keyFile) });
      await restoreControlPlane(repo, { dataDir, db: POSTGRES_URL as string, schema });
      repo.close();
    }

    server = await Server.start({ ...base, dataDir, api: { host: '127.0.0.1', port: apiPort }, agent: { host: '127.0.0.1', port: agentPort } });
    const token = (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim();
    const node = await connectedNode(server, token, identity.nodeId);
    assert.equal(node.id, identity.nodeId, 'the same node, not a new join');
    const certAfter = await readFile(join(agentDir, 'node.crt'), 'utf8');
    assert.equal(certAfter, certBefore, 'the agent kept its certificate');
    const secret = await inject<{ value: string }>(server, token, 'GET', '/v1/secrets/data/app/db');
    assert.equal(secret.status, 200);
    assert.equal(Buffer.from(secret.json.value, 'base64').toString(), 'the marker secret');
  } finally {
    await agent?.kill('SIGTERM');
    await server?.close();
    if (database === 'postgres') await dropSchema(schema).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

describe('control-plane backup and restore', { timeout: 240_000 }, () => {
  it('SQLite: backup while running, wipe, restore, and the agent reconnects with its certificate', () => disasterDrill('sqlite'));
  it('PostgreSQL: pg_dump, drop, pg_restore, and the agent reconnects', (ctx) => {
    if (!POSTGRES_URL) return ctx.skip('BULWARK_TEST_POSTGRES_URL is not set (.ci/run sets it)');
    return disasterDrill('postgres');
  });
});
