/**
 * Secret delivery end to end: a real server, real agents over mutual TLS, real
 * files. The agents' roots are temp trees (a destination `/srv/app/x` lands in
 * `<root>/srv/app/x`) and their config.yaml allows `/srv/app` only. On every
 * database, and across two replicas when PostgreSQL is available.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, lstat, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { WebSocket } from 'ws';
import { Agent } from '../src/agent/agent.js';
import { loadAgentConfig, resolveSecretsPolicy } from '../src/agent/config.js';
import { joinCluster } from '../src/agent/join.js';
import { parseLabelChanges } from '../src/cli/commands/nodes.js';
import { silentLogger } from '../src/core/logger.js';
import { addToFixtureTree, removeFixtureTree } from '../src/host/fixture-tree.js';
import { loadOrCreateMasterKey } from '../src/keyring/master-key-file.js';
import type { NodeView } from '../src/protocol/api.js';
import type { SecretDeliveryView } from '../src/protocol/secret-delivery.js';
import { MASTER_KEY_FILE, Server } from '../src/server/server.js';
import { testDatabases } from '../src/store/test-databases.js';
import { connectAgentSocket, enroll, makeHostFixture, mintApiToken, once, startTestServer, uniqueName, waitFor, type ErrorJson, type TestServer } from './harness.js';

const IS_ROOT = process.getuid?.() === 0;
/** The account files of the agents' roots: `daemon` as on Debian, so ownership can be checked when the test runs as root. */
const PASSWD = 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n';
const GROUP = 'root:x:0:\ndaemon:x:1:\n';

interface SecretAgent {
  agent: Agent;
  nodeId: string;
  root: string;
  dataDir: string;
  file(dest: string): string;
  close(): Promise<void>;
}

/** Starts an in-process agent whose config.yaml allows secrets under /srv/app only. */
async function startSecretAgent(opts: { servers: string[]; token: string; caPin: string }): Promise<SecretAgent> {
  const hostname = `node-${randomBytes(3).toString('hex')}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'bulwark-it-secrets-agent-'));
  const identity = await joinCluster({ servers: opts.servers, token: opts.token, caPin: opts.caPin, dataDir, hostname });
  const root = await makeHostFixture(hostname);
  await addToFixtureTree(root, { '/etc/passwd': PASSWD, '/etc/group': GROUP });
  await writeFile(join(dataDir, 'config.yaml'), 'secrets:\n  allow_dirs: [/srv/app]\n');
  const agent = await Agent.start({ dataDir, root, logger: silentLogger, secrets: resolveSecretsPolicy(await loadAgentConfig(dataDir)) });
  await once(agent, 'connected');
  return {
    agent,
    nodeId: identity.nodeId,
    root,
    dataDir,
    file: (dest) => join(root, dest),
    async close() {
      await agent.stop();
      await rm(dataDir, { recursive: true, force: true });
      await removeFixtureTree(root);
    },
  };
}

async function readOrUndefined(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch(() => undefined);
}

async function putSecret(t: TestServer, path: string, value: string): Promise<number> {
  const res = await t.api<{ version: number }>('PUT', `/v1/secrets/data/${path}`, { value: Buffer.from(value).toString('base64') });
  assert.equal(res.status, 200, res.body);
  return res.json.version;
}

async function deliveryOf(t: TestServer, id: string, query = ''): Promise<SecretDeliveryView> {
  const res = await t.api<{ deliveries: SecretDeliveryView[] }>('GET', `/v1/secret-deliveries${query}`);
  assert.equal(res.status, 200, res.body);
  const found = res.json.deliveries.find((d) => d.id === id);
  assert.ok(found, `delivery ${id} is listed`);
  return found;
}

/** A raw agent connection: hello, then every server message collected. */
async function rawChannel(t: TestServer, identity: { certPem: string; keyPem: string; caPem: string }): Promise<{ ws: WebSocket; messages: Record<string, unknown>[] }> {
  const opened = await connectAgentSocket(t.server.agentUrl, { ca: identity.caPem, cert: identity.certPem, key: identity.keyPem });
  assert.equal(opened.kind, 'open');
  if (opened.kind !== 'open') throw new Error('unreachable');
  const messages: Record<string, unknown>[] = [];
  opened.ws.on('message', (data) => messages.push(JSON.parse(data.toString()) as Record<string, unknown>));
  opened.ws.send(JSON.stringify({ type: 'hello', protocolVersions: [1], agentVersion: 'test' }));
  await waitFor(() => messages.some((m) => m.type === 'welcome'), { message: 'welcome' });
  return { ws: opened.ws, messages };
}

/** A custom role (YAML of one role, without its name) and an API token holding it. */
async function tokenWithRole(t: TestServer, rules: string): Promise<string> {
  const name = uniqueName('role');
  const applied = await t.api('PUT', '/v1/roles', { yaml: `name: ${name}\n${rules}` });
  assert.equal(applied.status, 200, applied.body);
  return (await mintApiToken(t, name)).token;
}

async function rawFetch(channel: { ws: WebSocket; messages: Record<string, unknown>[] }, deliveryId: string, version: number): Promise<Record<string, unknown>> {
  const requestId = randomUUID();
  channel.ws.send(JSON.stringify({ type: 'secret_fetch', requestId, deliveryId, version }));
  return waitFor(() => channel.messages.find((m) => m.requestId === requestId), { message: `an answer to fetch ${requestId}` });
}

describe('bulwark nodes label arguments', () => {
  it('reads k=v as set and k- as remove, kubectl style', () => {
    assert.deepEqual(parseLabelChanges(['role=db', 'tier=backend', 'legacy-']), { set: { role: 'db', tier: 'backend' }, remove: ['legacy'] });
    assert.throws(() => parseLabelChanges(['role=db', 'role-']), /both set and removed/);
    assert.throws(() => parseLabelChanges(['bad key=x']), /invalid/);
    assert.throws(() => parseLabelChanges(['-']), /invalid/);
  });
});

for (const database of testDatabases()) {
  describe(`secret delivery on ${database.name}`, () => {
    let t: TestServer;
    let db: SecretAgent;
    let web: SecretAgent;
    const opened: WebSocket[] = [];
    const cleanups: (() => Promise<void>)[] = [];

    before(async () => {
      t = await startTestServer({ database });
      const join = async (labels: Record<string, string>) => startSecretAgent({ servers: [t.server.agentUrl], token: (await t.createJoinToken({ labels })).token, caPin: t.server.caPin });
      db = await join({ role: 'db' });
      web = await join({ role: 'web' });
    });

    afterEach(() => {
      for (const ws of opened.splice(0)) ws.terminate();
    });

    after(async () => {
      for (const c of cleanups) await c();
      await db?.close();
      await web?.close();
      await t?.close();
    });

    it('refuses malformed deliveries with 4xx and a reason', async () => {
      await putSecret(t, 'app/checked', 'x');
      const base = { path: 'app/checked', selector: 'role=db', dest: '/srv/app/checked', mode: '0400' };
      const cases: [Record<string, unknown>, number, string][] = [
        [{ ...base, dest: 'srv/app/x' }, 400, 'BAD_REQUEST'],
        [{ ...base, dest: '/srv/app/../x' }, 400, 'BAD_REQUEST'],
        [{ ...base, mode: '0666' }, 400, 'BAD_REQUEST'],
        [{ ...base, mode: '4755' }, 400, 'BAD_REQUEST'],
        [{ ...base, selector: 'role in (' }, 400, 'INVALID_SELECTOR'],
        [{ ...base, selector: ' ' }, 400, 'INVALID_SELECTOR'],
        [{ ...base, owner: 'not a user' }, 400, 'BAD_REQUEST'],
        [{ ...base, path: 'app/missing' }, 404, 'NOT_FOUND'],
      ];
      for (const [body, status, code] of cases) {
        const res = await t.api<ErrorJson>('POST', '/v1/secret-deliveries', body);
        assert.equal(res.status, status, `${JSON.stringify(body)}: ${res.body}`);
        assert.equal(res.json.error.code, code, JSON.stringify(body));
      }
      const first = await t.api<SecretDeliveryView>('POST', '/v1/secret-deliveries', { ...base, selector: 'role=none' });
      assert.equal(first.status, 201, first.body);
      const clash = await t.api<ErrorJson>('POST', '/v1/secret-deliveries', { ...base, selector: 'role=other' });
      assert.equal(clash.status, 409, clash.body);
      assert.match(clash.json.error.message, /already writes \/srv\/app\/checked/);
      assert.equal((await t.api('DELETE', `/v1/secret-deliveries/${first.json.id}`)).status, 204);
      assert.equal((await t.api<ErrorJson>('DELETE', `/v1/secret-deliveries/${first.json.id}`)).status, 409);
      assert.equal((await t.api<ErrorJson>('DELETE', '/v1/secret-deliveries/sdl_nonexistent00000')).status, 404);
    });

    it('delivers to matching nodes only, with content, mode and owner, follows new versions and label changes, and undelivers', async () => {
      await putSecret(t, 'app/db-password', 'first-password');
      const created = await t.api<SecretDeliveryView>('POST', '/v1/secret-deliveries', {
        path: 'app/db-password',
        selector: 'role=db',
        dest: '/srv/app/conf/db-password',
        mode: '0400',
        ...(IS_ROOT ? { owner: 'daemon' } : {}),
      });
      assert.equal(created.status, 201, created.body);
      const id = created.json.id;
      assert.deepEqual(
        created.json.nodes.map((n) => [n.nodeId, n.state]),
        [[db.nodeId, 'pending']],
      );
      const file = db.file('/srv/app/conf/db-password');
      await waitFor(async () => (await readOrUndefined(file)) === 'first-password', { message: 'the db node gets the secret' });
      const s = await stat(file);
      assert.equal(s.mode & 0o7777, 0o400);
      if (IS_ROOT) assert.equal(s.uid, 1, 'owned by daemon (uid 1 in the node’s /etc/passwd)');
      else console.log('# not running as root: the file owner (chown to another user) is not checked');

      const delivered = await waitFor(async () => {
        const d = await deliveryOf(t, id);
        return d.nodes.find((n) => n.nodeId === db.nodeId && n.state === 'delivered') ? d : undefined;
      });
      assert.equal(delivered.currentVersion, 1);
      assert.deepEqual(
        delivered.nodes.map((n) => n.nodeId),
        [db.nodeId],
        'the web node is not a target',
      );
      const event = await t.waitForEvent('secret.delivered', { nodeId: db.nodeId });
      assert.equal(event.details['deliveryId'], id);
      assert.ok(!JSON.stringify(await t.events()).includes('first-password'), 'no event holds the value');
      await assert.rejects(lstat(web.file('/srv/app/conf/db-password')), { code: 'ENOENT' });

      // A new version reaches the node within heartbeats (200 ms here), not at the 60 s cache refresh.
      await putSecret(t, 'app/db-password', 'second-password');
      const started = Date.now();
      await waitFor(async () => (await readOrUndefined(file)) === 'second-password', { message: 'the new version arrives', timeoutMs: 10_000 });
      assert.ok(Date.now() - started < 10_000);
      assert.equal((await stat(file)).mode & 0o7777, 0o400);
      await waitFor(async () => (await deliveryOf(t, id)).nodes.find((n) => n.nodeId === db.nodeId && n.state === 'delivered' && n.version === 2));

      // The node leaves the selector: its file goes.
      const relabelled = await t.api<NodeView>('PATCH', `/v1/nodes/${db.nodeId}/labels`, { set: { tier: 'backend' }, remove: ['role'] });
      assert.equal(relabelled.status, 200, relabelled.body);
      assert.deepEqual(relabelled.json.labels, { tier: 'backend' });
      const changed = await t.waitForEvent('node.labels_changed', { nodeId: db.nodeId });
      assert.deepEqual(changed.details['removed'], ['role']);
      await waitFor(async () => (await readOrUndefined(file)) === undefined, { message: 'the file is removed when the node leaves the selector' });
      const removed = await waitFor(async () => (await deliveryOf(t, id)).nodes.find((n) => n.nodeId === db.nodeId && n.state === 'removed'));
      assert.equal(removed.matches, false);

      // And comes back with the label.
      assert.equal((await t.api('PATCH', `/v1/nodes/${db.nodeId}/labels`, { set: { role: 'db' } })).status, 200);
      await waitFor(async () => (await readOrUndefined(file)) === 'second-password', { message: 'the file returns with the label' });

      // Undelivered: the file goes, the delivery stays listed with --all.
      assert.equal((await t.api('DELETE', `/v1/secret-deliveries/${id}`)).status, 204);
      await waitFor(async () => (await readOrUndefined(file)) === undefined, { message: 'undeliver removes the file' });
      const listed = await t.api<{ deliveries: SecretDeliveryView[] }>('GET', '/v1/secret-deliveries?path=app/db-password');
      assert.deepEqual(
        listed.json.deliveries.map((d) => d.id),
        [],
      );
      const all = await deliveryOf(t, id, '?all=true');
      assert.notEqual(all.deletedAt, null);
      await waitFor(async () => (await deliveryOf(t, id, '?all=true')).nodes.find((n) => n.nodeId === db.nodeId && n.state === 'removed'));
    });

    it('reports an error for a destination the agent refuses', async () => {
      await putSecret(t, 'app/outside', 'x');
      const created = await t.api<SecretDeliveryView>('POST', '/v1/secret-deliveries', { path: 'app/outside', selector: 'role=web', dest: '/etc/app/outside', mode: '0400' });
      assert.equal(created.status, 201, created.body);
      cleanups.push(async () => void (await t.api('DELETE', `/v1/secret-deliveries/${created.json.id}`)));
      const failed = await waitFor(async () => (await deliveryOf(t, created.json.id)).nodes.find((n) => n.nodeId === web.nodeId && n.state === 'error'));
      assert.match(failed.error ?? '', /outside the directories this agent allows secrets in/);
      const event = await t.waitForEvent('secret.delivery_failed', { nodeId: web.nodeId });
      assert.equal(event.details['deliveryId'], created.json.id);
      await assert.rejects(lstat(web.file('/etc/app/outside')), { code: 'ENOENT' });
    });

    it('checks every fetch again: a node outside the selector gets nothing even if it asks', async () => {
      await putSecret(t, 'app/api-key', 'the-api-key');
      const created = await t.api<SecretDeliveryView>('POST', '/v1/secret-deliveries', { path: 'app/api-key', selector: 'role=api', dest: '/srv/app/api-key', mode: '0440' });
      assert.equal(created.status, 201, created.body);
      const id = created.json.id;
      cleanups.push(async () => void (await t.api('DELETE', `/v1/secret-deliveries/${id}`)));

      // A node the selector does not match, speaking the protocol by hand.
      const outsider = await enroll(t, { labels: { role: 'cache' } });
      cleanups.push(() => rm(outsider.dataDir, { recursive: true, force: true }));
      const out = await rawChannel(t, outsider.identity);
      opened.push(out.ws);
      const manifest = await waitFor(() => out.messages.find((m) => m.type === 'secrets_manifest'), { message: 'the outsider gets its (empty) manifest' });
      assert.deepEqual(manifest['items'], []);
      const refused = await rawFetch(out, id, 1);
      assert.equal(refused.type, 'error');
      assert.equal(refused.code, 'FORBIDDEN');
      assert.equal(refused.fatal, false);
      // An id that does not exist gets the very same answer.
      const unknown = await rawFetch(out, 'sdl_aaaaaaaaaaaaaaaa', 1);
      assert.equal(unknown.code, 'FORBIDDEN');
      assert.equal(String(unknown.message).replace('sdl_aaaaaaaaaaaaaaaa', 'X'), String(refused.message).replace(id, 'X'));

      // A node that matches gets the value, only at the current version.
      const insider = await enroll(t, { labels: { role: 'api' } });
      cleanups.push(() => rm(insider.dataDir, { recursive: true, force: true }));
      const inside = await rawChannel(t, insider.identity);
      opened.push(inside.ws);
      const itsManifest = await waitFor(() => inside.messages.find((m) => m.type === 'secrets_manifest'));
      assert.deepEqual(
        (itsManifest['items'] as { deliveryId: string; version: number }[]).map((i) => [i.deliveryId, i.version]),
        [[id, 1]],
      );
      const value = await rawFetch(inside, id, 1);
      assert.equal(value.type, 'secret_value');
      assert.equal(Buffer.from(String(value.value), 'base64').toString(), 'the-api-key');
      const stale = await rawFetch(inside, id, 7);
      assert.equal(stale.code, 'CONFLICT');

      // Relabelled out of the selector: the next fetch is refused at once, whatever it was told before.
      assert.equal((await t.api('PATCH', `/v1/nodes/${insider.identity.nodeId}/labels`, { remove: ['role'] })).status, 200);
      const after = await rawFetch(inside, id, 1);
      assert.equal(after.code, 'FORBIDDEN');
      assert.ok(!out.messages.some((m) => m.type === 'secret_value'), 'the outsider never saw a value');

      const audit = await t.api<{ entries: { actor: string; action: string; decision: string }[] }>('GET', '/v1/audit?limit=1000');
      assert.equal(audit.status, 200, audit.body);
      const fetches = audit.json.entries.filter((e) => e.action === 'secrets.fetch');
      assert.ok(fetches.some((e) => e.actor === `node:${outsider.identity.nodeId}` && e.decision === 'deny'), 'refusals are audited');
      assert.ok(fetches.some((e) => e.actor === `node:${insider.identity.nodeId}` && e.decision === 'allow'), 'grants are audited');
      assert.ok(!audit.body.includes('the-api-key'), 'no audit entry holds the value');
    });

    it('creates and removes deliveries only within the caller\'s path scope, answering out-of-scope paths as missing ones', async () => {
      await putSecret(t, 'prod/scope-db', 'p');
      await putSecret(t, 'app/scope-ok', 'a');
      const dest = () => `/srv/app/${uniqueName('scope')}`;
      const pathScoped = await tokenWithRole(t, 'allow:\n  - { resources: [secrets], verbs: [deliver, list] }\ndeny:\n  - { resources: [secrets], verbs: [deliver, list], paths: ["prod/**"] }\n');
      const as = { token: pathScoped };
      const hidden = await t.api<ErrorJson>('POST', '/v1/secret-deliveries', { path: 'prod/scope-db', selector: 'role=none', dest: dest(), mode: '0400' }, as);
      const missing = await t.api<ErrorJson>('POST', '/v1/secret-deliveries', { path: 'prod/scope-missing', selector: 'role=none', dest: dest(), mode: '0400' }, as);
      assert.equal(hidden.status, 404, hidden.body);
      assert.equal(missing.status, 404, missing.body);
      assert.equal(hidden.json.error.code, missing.json.error.code);
      assert.equal(hidden.json.error.message.replace('prod/scope-db', 'X'), missing.json.error.message.replace('prod/scope-missing', 'X'));
      const mine = await t.api<SecretDeliveryView>('POST', '/v1/secret-deliveries', { path: 'app/scope-ok', selector: 'role=none', dest: dest(), mode: '0400' }, as);
      assert.equal(mine.status, 201, mine.body);
      cleanups.push(async () => void (await t.api('DELETE', `/v1/secret-deliveries/${mine.json.id}`)));

      // One the admin made at an out-of-scope path: not listed, and removing it is a 404 like a missing id.
      const theirs = await t.api<SecretDeliveryView>('POST', '/v1/secret-deliveries', { path: 'prod/scope-db', selector: 'role=none', dest: dest(), mode: '0400' });
      assert.equal(theirs.status, 201, theirs.body);
      cleanups.push(async () => void (await t.api('DELETE', `/v1/secret-deliveries/${theirs.json.id}`)));
      const listed = await t.api<{ deliveries: SecretDeliveryView[] }>('GET', '/v1/secret-deliveries', undefined, as);
      assert.equal(listed.status, 200, listed.body);
      assert.ok(listed.json.deliveries.some((d) => d.id === mine.json.id), 'its own path is listed');
      assert.ok(!listed.json.deliveries.some((d) => d.path.startsWith('prod/')), 'no out-of-scope path or destination is listed');
      assert.ok((await deliveryOf(t, theirs.json.id)).path === 'prod/scope-db', 'the admin sees it');
      const removeHidden = await t.api<ErrorJson>('DELETE', `/v1/secret-deliveries/${theirs.json.id}`, undefined, as);
      const removeMissing = await t.api<ErrorJson>('DELETE', '/v1/secret-deliveries/sdl_aaaaaaaaaaaaaaaa', undefined, as);
      assert.equal(removeHidden.status, 404, removeHidden.body);
      assert.equal(removeHidden.json.error.message.replace(theirs.json.id, 'X'), removeMissing.json.error.message.replace('sdl_aaaaaaaaaaaaaaaa', 'X'));
      assert.equal((await deliveryOf(t, theirs.json.id)).deletedAt, null, 'the delivery stays');

      // A deny rule scoped by labels: a delivery could reach those nodes, so it is refused at the paths it covers.
      const nodeDenied = await tokenWithRole(t, 'allow:\n  - { resources: [secrets], verbs: [deliver] }\ndeny:\n  - { resources: [secrets], verbs: [deliver], nodes: env=prod, paths: ["prod/**"] }\n');
      const refused = await t.api<ErrorJson>('POST', '/v1/secret-deliveries', { path: 'prod/scope-db', selector: 'role=none', dest: dest(), mode: '0400' }, { token: nodeDenied });
      assert.equal(refused.status, 403, refused.body);
      assert.equal(refused.json.error.code, 'FORBIDDEN');
      assert.match(refused.json.error.message, /env=prod/);
      const removeRefused = await t.api<ErrorJson>('DELETE', `/v1/secret-deliveries/${theirs.json.id}`, undefined, { token: nodeDenied });
      assert.equal(removeRefused.status, 403, removeRefused.body);
      const elsewhere = await t.api<SecretDeliveryView>('POST', '/v1/secret-deliveries', { path: 'app/scope-ok', selector: 'role=none', dest: dest(), mode: '0400' }, { token: nodeDenied });
      assert.equal(elsewhere.status, 201, elsewhere.body);
      cleanups.push(async () => void (await t.api('DELETE', `/v1/secret-deliveries/${elsewhere.json.id}`)));
    });

    it('lets only a nodes: update granted on every node edit labels', async () => {
      const scoped = await tokenWithRole(t, 'allow:\n  - { resources: [nodes], verbs: [list, read, update], nodes: role=web }\ndeny: []\n');
      const refused = await t.api<ErrorJson>('PATCH', `/v1/nodes/${web.nodeId}/labels`, { set: { role: 'web', tier: 'x' } }, { token: scoped });
      assert.equal(refused.status, 403, refused.body);
      assert.equal(refused.json.error.code, 'FORBIDDEN');
      assert.match(refused.json.error.message, /nodes: update on every node/);
      assert.deepEqual((await t.node(web.nodeId)).labels, { role: 'web' });

      const unscoped = await tokenWithRole(t, 'allow:\n  - { resources: [nodes], verbs: [list, read, update] }\ndeny:\n  - { resources: [nodes], verbs: [update], nodes: role=db }\n');
      const edited = await t.api<NodeView>('PATCH', `/v1/nodes/${web.nodeId}/labels`, { set: { tier: 'x' } }, { token: unscoped });
      assert.equal(edited.status, 200, edited.body);
      assert.equal((await t.api('PATCH', `/v1/nodes/${web.nodeId}/labels`, { remove: ['tier'] }, { token: unscoped })).status, 200);
      // Its deny rule still holds, on the labels before and after.
      assert.equal((await t.api('PATCH', `/v1/nodes/${web.nodeId}/labels`, { set: { role: 'db' } }, { token: unscoped })).status, 403);
      assert.deepEqual((await t.node(web.nodeId)).labels, { role: 'web' });
    });

    it('accepts delivered only from a node the delivery targets, whatever this replica has cached', async () => {
      await putSecret(t, 'app/status-only', 's');
      const created = await t.api<SecretDeliveryView>('POST', '/v1/secret-deliveries', { path: 'app/status-only', selector: 'role=status-target', dest: '/srv/app/status-only', mode: '0400' });
      assert.equal(created.status, 201, created.body);
      cleanups.push(async () => void (await t.api('DELETE', `/v1/secret-deliveries/${created.json.id}`)));
      const outsider = await enroll(t, { labels: { role: 'status-outsider' } });
      cleanups.push(() => rm(outsider.dataDir, { recursive: true, force: true }));
      const channel = await rawChannel(t, outsider.identity);
      opened.push(channel.ws);
      await waitFor(() => channel.messages.find((m) => m.type === 'secrets_manifest'));
      // A label change drops the cached manifest; without heartbeats it is not rebuilt.
      assert.equal((await t.api('PATCH', `/v1/nodes/${outsider.identity.nodeId}/labels`, { set: { other: 'x' } })).status, 200);
      channel.ws.send(JSON.stringify({ type: 'secret_status', items: [{ deliveryId: created.json.id, version: 1, state: 'delivered' }] }));
      // An error report (accepted for any delivery) after it: once it is recorded, the first report was handled.
      const marker = await t.api<SecretDeliveryView>('POST', '/v1/secret-deliveries', { path: 'app/status-only', selector: 'role=status-marker', dest: '/srv/app/status-marker', mode: '0400' });
      assert.equal(marker.status, 201, marker.body);
      cleanups.push(async () => void (await t.api('DELETE', `/v1/secret-deliveries/${marker.json.id}`)));
      channel.ws.send(JSON.stringify({ type: 'secret_status', items: [{ deliveryId: marker.json.id, version: 1, state: 'error', error: 'marker' }] }));
      await t.waitForEvent('secret.delivery_failed', { nodeId: outsider.identity.nodeId });
      assert.ok(!(await t.events({ type: 'secret.delivered', nodeId: outsider.identity.nodeId })).length, 'no delivered event for a node the delivery does not target');
      assert.ok(!(await deliveryOf(t, created.json.id)).nodes.some((n) => n.nodeId === outsider.identity.nodeId), 'no status row for it');
    });

    it('limits secret fetches per node, refusing the excess with RATE_LIMITED and without auditing each', async () => {
      await putSecret(t, 'app/fetched-often', 'f');
      const created = await t.api<SecretDeliveryView>('POST', '/v1/secret-deliveries', { path: 'app/fetched-often', selector: 'role=fetcher', dest: '/srv/app/fetched-often', mode: '0400' });
      assert.equal(created.status, 201, created.body);
      cleanups.push(async () => void (await t.api('DELETE', `/v1/secret-deliveries/${created.json.id}`)));
      const fetcher = await enroll(t, { labels: { role: 'fetcher' } });
      cleanups.push(() => rm(fetcher.dataDir, { recursive: true, force: true }));
      const channel = await rawChannel(t, fetcher.identity);
      opened.push(channel.ws);
      const answers = await Promise.all(Array.from({ length: 40 }, () => rawFetch(channel, created.json.id, 1)));
      const limited = answers.filter((a) => a.code === 'RATE_LIMITED');
      const served = answers.filter((a) => a.type === 'secret_value');
      assert.equal(limited.length + served.length, 40);
      assert.ok(served.length >= 20, `the burst is served (${served.length})`);
      assert.ok(limited.length >= 10, `the excess is refused (${limited.length})`);
      assert.equal(limited[0]?.fatal, false, 'the channel stays open');
      const audit = await t.api<{ entries: unknown[] }>('GET', `/v1/audit?actor=${encodeURIComponent(`node:${fetcher.identity.nodeId}`)}&action=secrets.fetch&limit=1000`);
      assert.equal(audit.status, 200, audit.body);
      assert.equal(audit.json.entries.length, served.length, 'only the fetches served are audited');
    });

    it('validates label edits', async () => {
      const bad = await t.api<ErrorJson>('PATCH', `/v1/nodes/${web.nodeId}/labels`, { set: { 'bad key': 'x' } });
      assert.equal(bad.status, 400);
      assert.equal(bad.json.error.code, 'INVALID_LABEL');
      const both = await t.api<ErrorJson>('PATCH', `/v1/nodes/${web.nodeId}/labels`, { set: { a: 'x' }, remove: ['a'] });
      assert.equal(both.status, 400);
      const empty = await t.api<ErrorJson>('PATCH', `/v1/nodes/${web.nodeId}/labels`, {});
      assert.equal(empty.status, 400);
      const missing = await t.api<ErrorJson>('PATCH', '/v1/nodes/no-such-node/labels', { set: { a: 'b' } });
      assert.equal(missing.status, 404);
      assert.equal(missing.json.error.code, 'NODE_NOT_FOUND');
      const same = await t.api<NodeView>('PATCH', `/v1/nodes/${web.nodeId}/labels`, { set: { role: 'web' } });
      assert.equal(same.status, 200);
      assert.deepEqual(same.json.labels, { role: 'web' });
    });
  });
}

const PG_URL = process.env.BULWARK_TEST_POSTGRES_URL;

describe('secret delivery across two replicas', { skip: PG_URL ? false : 'BULWARK_TEST_POSTGRES_URL is not set: replicas need PostgreSQL' }, () => {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  let dir: string;
  let a: Server;
  let b: Server;
  let node: SecretAgent | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bulwark-it-secrets-replicas-'));
    await loadOrCreateMasterKey(join(dir, 'a', MASTER_KEY_FILE));
    await mkdir(join(dir, 'b'), { recursive: true, mode: 0o700 });
    await copyFile(join(dir, 'a', MASTER_KEY_FILE), join(dir, 'b', MASTER_KEY_FILE));
    const options = (name: string) => ({
      dataDir: join(dir, name),
      db: PG_URL ?? '',
      dbSchema: schema,
      api: { host: '127.0.0.1', port: 0 },
      agent: { host: '127.0.0.1', port: 0 },
      heartbeatIntervalMs: 150,
      logger: silentLogger,
    });
    a = await Server.start(options('a'));
    b = await Server.start(options('b'));
  });

  after(async () => {
    await node?.close();
    await Promise.allSettled([a?.close(), b?.close()]);
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`drop schema if exists "${schema}" cascade`);
    await client.end();
    await rm(dir, { recursive: true, force: true });
  });

  it('changes made on replica A reach a node connected to replica B', async () => {
    const token = a.adminToken ?? '';
    const call = async <T>(method: string, url: string, body?: unknown): Promise<{ status: number; json: T; body: string }> => {
      const res = await a.api.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) });
      return { status: res.statusCode, json: JSON.parse(res.body || 'null') as T, body: res.body };
    };
    const { token: joinToken } = await a.joinTokens.create({ ttlMs: 60_000, uses: 1, labels: { role: 'db' }, createdBy: 'test' });
    node = await startSecretAgent({ servers: [b.agentUrl], token: joinToken, caPin: a.caPin });
    assert.ok(b.gateway.isConnected(node.nodeId), 'the node talks to replica B');
    const file = node.file('/srv/app/replicated');

    assert.equal((await call('PUT', '/v1/secrets/data/app/replicated', { value: Buffer.from('one').toString('base64') })).status, 200);
    const created = await call<SecretDeliveryView>('POST', '/v1/secret-deliveries', { path: 'app/replicated', selector: 'role=db', dest: '/srv/app/replicated', mode: '0400' });
    assert.equal(created.status, 201, created.body);
    await waitFor(async () => (await readOrUndefined(file)) === 'one', { message: 'a delivery created on A reaches the node on B' });

    assert.equal((await call('PUT', '/v1/secrets/data/app/replicated', { value: Buffer.from('two').toString('base64') })).status, 200);
    await waitFor(async () => (await readOrUndefined(file)) === 'two', { message: 'a new version written on A reaches the node on B' });

    assert.equal((await call('PATCH', `/v1/nodes/${node.nodeId}/labels`, { remove: ['role'] })).status, 200);
    await waitFor(async () => (await readOrUndefined(file)) === undefined, { message: 'a label change on A removes the file on B' });
  });
});
