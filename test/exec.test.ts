/**
 * Remote commands end to end: a real server, real in-process agents over mutual
 * TLS with their own exec policies, the API streaming NDJSON, the audit log, and
 * the CLI as a child process. On every database (SQLite always, PostgreSQL when
 * BULWARK_TEST_POSTGRES_URL is set).
 */
import { systemPrincipal } from '../src/server/access-service.js';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { ExecEvent } from '../src/protocol/exec.js';
import { testDatabases } from '../src/store/test-databases.js';
import { joinAgent, spawnCli, startTestServer, waitFor, type ErrorJson, type JoinAgentOptions, type TestAgent, type TestServer } from './harness.js';

type Exit = Extract<ExecEvent, { type: 'exit' }>;

interface RunResult {
  status: number;
  events: ExecEvent[];
  body: string;
  /** Per node id: its exit event and its stdout/stderr. */
  byNode: Map<string, { exit: Exit | undefined; stdout: string; stderr: string }>;
  done: Extract<ExecEvent, { type: 'done' }> | undefined;
  targets: string[];
}

function parseRun(status: number, body: string): RunResult {
  const events = body
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ExecEvent);
  const byNode = new Map<string, { exit: Exit | undefined; stdout: string; stderr: string }>();
  let targets: string[] = [];
  let done: RunResult['done'];
  for (const e of events) {
    if (e.type === 'start') {
      targets = e.nodes.map((n) => n.id);
      for (const n of e.nodes) byNode.set(n.id, { exit: undefined, stdout: '', stderr: '' });
    } else if (e.type === 'output') {
      const n = byNode.get(e.node);
      assert.ok(n, `output of a node not announced in start: ${e.node}`);
      assert.equal(n.exit, undefined, 'no output after a node exited');
      n[e.stream] += e.data;
    } else if (e.type === 'exit') {
      const n = byNode.get(e.node);
      assert.ok(n, `exit of a node not announced in start: ${e.node}`);
      assert.equal(n.exit, undefined, 'one exit per node');
      n.exit = e;
    } else {
      done = e;
    }
  }
  return { status, events, body, byNode, done, targets };
}

for (const database of testDatabases()) {
  describe(`exec on ${database.name}`, () => {
    let t: TestServer;
    const agents: TestAgent[] = [];
    let staging1: TestAgent;
    let staging2: TestAgent;
    let prod: TestAgent;
    let disabled: TestAgent;
    let stagingToken: string;
    const tag = randomBytes(3).toString('hex');

    const start = async (hostname: string, labels: Record<string, string>, exec?: JoinAgentOptions['exec']): Promise<TestAgent> => {
      const a = await joinAgent(t, { hostname: `${hostname}-${tag}`, labels, ...(exec ? { exec } : {}) });
      agents.push(a);
      return a;
    };

    const exec = async (body: { selector: string; argv: string[]; timeoutSeconds?: number }, token?: string): Promise<RunResult> => {
      const res = await t.api('POST', '/v1/exec', body, token === undefined ? {} : { token });
      if (res.status !== 200) return { status: res.status, events: [], body: res.body, byNode: new Map(), done: undefined, targets: [] };
      assert.match(String(res.headers['content-type']), /^application\/x-ndjson/);
      const run = parseRun(res.status, res.body);
      assert.equal(run.events[0]?.type, 'start', 'the first event is start');
      assert.equal(run.events.at(-1)?.type, 'done', 'the last event is done');
      for (const [id, n] of run.byNode) assert.ok(n.exit, `node ${id} reported its end`);
      return run;
    };

    before(async () => {
      t = await startTestServer({ database });
      staging1 = await start('staging-1', { env: 'staging' }, { enabled: true, allow: [] });
      staging2 = await start('staging-2', { env: 'staging', list: 'yes' }, { enabled: true, allow: ['uptime', 'echo **', 'sh -c **', 'sleep *'] });
      prod = await start('prod-1', { env: 'prod' }, { enabled: true, allow: [] });
      disabled = await start('dev-1', { env: 'dev' });
      await t.server.access.apply(systemPrincipal('test'), [
        {
          name: 'staging-exec',
          allow: [{ resources: ['nodes'], verbs: ['list', 'read', 'exec'], nodes: 'env=staging' }],
        },
      ]);
      stagingToken = (await t.server.identity.createApiToken(undefined, { name: `staging-${tag}`, role: 'staging-exec' })).token;
    });
    after(async () => {
      for (const a of agents) await a.close();
      await t?.close();
    });

    describe('allowed on in-scope nodes', () => {
      it('runs on every matching node and streams each one’s output and exit code', async () => {
        const run = await exec({ selector: 'env=staging', argv: ['sh', '-c', 'echo "out from $0"; echo "err" >&2', 'node'] });
        assert.equal(run.status, 200);
        assert.deepEqual([...run.targets].sort(), [staging1.nodeId, staging2.nodeId].sort());
        for (const a of [staging1, staging2]) {
          const n = run.byNode.get(a.nodeId);
          assert.equal(n?.stdout, 'out from node\n', a.hostname);
          assert.equal(n?.stderr, 'err\n', a.hostname);
          assert.equal(n?.exit?.exitCode, 0);
          assert.equal(n?.exit?.error, undefined);
        }
        assert.deepEqual({ ...run.done }, { type: 'done', total: 2, failed: 0 });
      });

      it('a non-zero exit on one node is that node’s failure, and counted', async () => {
        const run = await exec({ selector: 'env=staging', argv: ['sh', '-c', 'exit 7'] });
        for (const a of [staging1, staging2]) assert.equal(run.byNode.get(a.nodeId)?.exit?.exitCode, 7);
        assert.deepEqual({ ...run.done }, { type: 'done', total: 2, failed: 2 });
        const mixed = await exec({ selector: 'env in (staging,dev)', argv: ['uptime'] });
        assert.equal(mixed.byNode.get(staging1.nodeId)?.exit?.exitCode, 0);
        assert.equal(mixed.byNode.get(staging2.nodeId)?.exit?.exitCode, 0);
        assert.equal(mixed.byNode.get(disabled.nodeId)?.exit?.error?.code, 'EXEC_DISABLED');
        assert.deepEqual({ ...mixed.done }, { type: 'done', total: 3, failed: 1 });
      });
    });

    describe('refused out of scope', () => {
      it('a label-scoped role runs only on its nodes; the others are neither run nor named', async () => {
        const before = (await t.server.audit.list({ action: 'nodes.exec', limit: 10_000 })).length;
        const run = await exec({ selector: 'env in (staging,prod)', argv: ['uptime'] }, stagingToken);
        assert.equal(run.status, 200);
        assert.deepEqual([...run.targets].sort(), [staging1.nodeId, staging2.nodeId].sort());
        assert.ok(!run.body.includes(prod.nodeId), 'the prod node id is not in the stream');
        assert.ok(!run.body.includes(prod.hostname), 'the prod node name is not in the stream');
        const entries = (await t.server.audit.list({ action: 'nodes.exec', limit: 10_000 })).slice(before);
        assert.ok(!entries.some((e) => e.resource === `/v1/nodes/${prod.nodeId}`), 'nothing was run on the prod node');
        assert.equal(entries.filter((e) => e.resource.startsWith('/v1/nodes/') && e.details.phase === 'finished').length, 2);
      });

      it('no in-scope node matching is 404, exactly like no node at all', async () => {
        const outOfScope = await t.api<ErrorJson>('POST', '/v1/exec', { selector: 'env=prod', argv: ['uptime'] }, { token: stagingToken });
        assert.equal(outOfScope.status, 404);
        assert.equal(outOfScope.json.error.code, 'NODE_NOT_FOUND');
        assert.ok(!outOfScope.body.includes(prod.nodeId) && !outOfScope.body.includes(prod.hostname));
        const nowhere = await t.api<ErrorJson>('POST', '/v1/exec', { selector: 'env=nowhere', argv: ['uptime'] }, { token: stagingToken });
        assert.equal(nowhere.status, 404);
        assert.equal(nowhere.json.error.message.replaceAll('nowhere', 'prod'), outOfScope.json.error.message);
      });

      it('a role without exec is refused before anything runs (403), and bad requests are 400 JSON errors', async () => {
        const viewer = (await t.server.identity.createApiToken(undefined, { name: `viewer-${tag}`, role: 'viewer' })).token;
        const refused = await t.api<ErrorJson>('POST', '/v1/exec', { selector: 'env=staging', argv: ['uptime'] }, { token: viewer });
        assert.equal(refused.status, 403);
        assert.equal(refused.json.error.code, 'FORBIDDEN');
        for (const body of [
          { selector: 'env=staging', argv: [] },
          { selector: 'env=staging', argv: [''] },
          { selector: 'env=staging', argv: ['uptime'], timeoutSeconds: 0 },
          { selector: 'env=staging', argv: ['uptime'], timeoutSeconds: 3601 },
          { selector: 'env=staging', argv: Array.from({ length: 257 }, () => 'x') },
          { selector: 'env=staging', argv: ['echo', 'a\u0000b'] },
          { argv: ['uptime'] },
        ]) {
          const res = await t.api<ErrorJson>('POST', '/v1/exec', body);
          assert.equal(res.status, 400, JSON.stringify(body).slice(0, 80));
          assert.equal(res.json.error.code, 'BAD_REQUEST');
        }
        const badSelector = await t.api<ErrorJson>('POST', '/v1/exec', { selector: 'env in (', argv: ['uptime'] });
        assert.equal(badSelector.status, 400);
        assert.equal(badSelector.json.error.code, 'INVALID_SELECTOR');
      });
    });

    describe('refused by the agent', () => {
      it('an agent with exec disabled (the default) runs nothing: EXEC_DISABLED', async () => {
        const run = await exec({ selector: 'env=dev', argv: ['uptime'] });
        const exit = run.byNode.get(disabled.nodeId)?.exit;
        assert.equal(exit?.error?.code, 'EXEC_DISABLED');
        assert.equal(exit?.exitCode, null);
        assert.equal(run.byNode.get(disabled.nodeId)?.stdout, '');
        assert.deepEqual({ ...run.done }, { type: 'done', total: 1, failed: 1 });
      });

      it('an agent with an allow-list runs only what it lists: EXEC_NOT_ALLOWED', async () => {
        const refused = await exec({ selector: 'list=yes', argv: ['id'] });
        assert.equal(refused.byNode.get(staging2.nodeId)?.exit?.error?.code, 'EXEC_NOT_ALLOWED');
        assert.equal(refused.done?.failed, 1);
        const allowed = await exec({ selector: 'list=yes', argv: ['echo', 'listed'] });
        assert.equal(allowed.byNode.get(staging2.nodeId)?.stdout, 'listed\n');
        assert.equal(allowed.byNode.get(staging2.nodeId)?.exit?.exitCode, 0);
      });
    });

    describe('ends', () => {
      it('a timeout stops `sleep 30` (SIGTERM, TIMEOUT) long before it would end', async () => {
        const started = Date.now();
        const run = await exec({ selector: 'env=staging', argv: ['sleep', '30'], timeoutSeconds: 1 });
        assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
        for (const a of [staging1, staging2]) {
          const exit = run.byNode.get(a.nodeId)?.exit;
          assert.equal(exit?.signal, 'SIGTERM', a.hostname);
          assert.equal(exit?.error?.code, 'TIMEOUT');
        }
        assert.equal(run.done?.failed, 2);
      });

      it('a node whose agent is not connected is reported NOT_CONNECTED', async () => {
        const gone = await start('gone-1', { env: 'gone' }, { enabled: true, allow: [] });
        await gone.stop();
        await waitFor(() => !t.server.gateway.isConnected(gone.nodeId), { message: 'the server noticed the agent left' });
        const run = await exec({ selector: 'env=gone', argv: ['uptime'] });
        assert.equal(run.byNode.get(gone.nodeId)?.exit?.error?.code, 'NOT_CONNECTED');
        assert.equal(run.done?.failed, 1);
      });

      it('an agent that disconnects mid-run is reported DISCONNECTED', async () => {
        const flaky = await start('flaky-1', { env: 'flaky' }, { enabled: true, allow: [] });
        const pending = exec({ selector: 'env=flaky', argv: ['sleep', '30'], timeoutSeconds: 60 });
        await new Promise((r) => setTimeout(r, 500));
        await flaky.stop();
        const run = await pending;
        assert.equal(run.byNode.get(flaky.nodeId)?.exit?.error?.code, 'DISCONNECTED');
      });
    });

    describe('audit', () => {
      it('writes one nodes.exec entry per node with argv and exit code, never the output', async () => {
        const marker = `m${randomBytes(4).toString('hex')}`;
        const run = await exec({ selector: 'env in (staging,dev)', argv: ['sh', '-c', 'echo "printed-$((6*7))-$0"; exit 3', marker] });
        const all = await t.server.audit.list({ action: 'nodes.exec', limit: 10_000 });
        const mine = all.filter((e) => e.resource.startsWith('/v1/nodes/') && JSON.stringify(e.details).includes(marker));
        const entries = mine.filter((e) => e.details.phase === 'finished');
        assert.deepEqual(entries.map((e) => e.resource).sort(), [staging1, staging2, disabled].map((a) => `/v1/nodes/${a.nodeId}`).sort(), 'one result entry per node');
        for (const finished of entries) {
          const started = mine.find((e) => e.details.phase === 'started' && e.resource === finished.resource);
          assert.ok(started && started.seq < finished.seq, 'each run was on record, with its argv, before it ran');
          assert.deepEqual(started.details.argv, finished.details.argv);
        }
        for (const e of entries) {
          assert.equal(e.actor, 'token:bootstrap-admin');
          assert.equal(e.decision, 'allow');
          assert.deepEqual(e.details.argv, ['sh', '-c', 'echo "printed-$((6*7))-$0"; exit 3', marker]);
          assert.equal(typeof e.details.durationMs, 'number');
          assert.ok(!JSON.stringify(e).includes(`printed-42-${marker}`), 'the output is not in the audit log');
          if (e.resource.endsWith(disabled.nodeId)) {
            assert.equal(e.details.errorCode, 'EXEC_DISABLED');
            assert.equal(e.details.exitCode, null);
          } else {
            assert.equal(e.details.exitCode, 3);
            assert.equal(e.details.errorCode, null);
          }
          assert.equal(e.outcome, 'failure', 'exit 3 and a refusal are failures');
        }
        assert.equal(run.byNode.get(staging1.nodeId)?.stdout, `printed-42-${marker}\n`, 'the output did reach the caller');
        const ok = await exec({ selector: 'env=staging', argv: ['echo', marker, 'ok'] });
        assert.equal(ok.done?.failed, 0);
        const okEntries = (await t.server.audit.list({ action: 'nodes.exec', limit: 10_000 })).filter(
          (e) => e.resource.startsWith('/v1/nodes/') && e.details.phase === 'finished' && JSON.stringify(e.details.argv) === JSON.stringify(['echo', marker, 'ok']),
        );
        assert.equal(okEntries.length, 2);
        for (const e of okEntries) assert.equal(e.outcome, 'success');
        assert.equal((await t.server.audit.verify()).ok, true, 'the chain still verifies');
      });
    });

    describe('CLI', () => {
      const cli = async (args: string[]): Promise<{ code: number | null; output: string }> => {
        const child = spawnCli(['exec', '--server', t.server.apiUrl, '--ca', join(t.dataDir, 'ca.pem'), '--token', t.adminToken, '--data-dir', t.dataDir, ...args]);
        const { code } = await child.exited;
        return { code, output: child.output() };
      };

      it('prints [node] lines and exits 0 when every node succeeded', async () => {
        const { code, output } = await cli(['--selector', 'env=staging', '--', 'echo', 'hello', 'from', 'cli']);
        assert.equal(code, 0, output);
        for (const a of [staging1, staging2]) assert.match(output, new RegExp(`\\[${a.hostname}\\]\\s+hello from cli\\n`));
        assert.match(output, /2 nodes: 2 succeeded, 0 failed/);
      });

      it('exits 1 when any node failed: a non-zero exit, or an agent with exec disabled', async () => {
        const nonZero = await cli(['--selector', 'env=staging', '--', 'sh', '-c', 'exit 4']);
        assert.equal(nonZero.code, 1, nonZero.output);
        assert.match(nonZero.output, /exit 4/);
        const refused = await cli(['--selector', 'env=dev', '--', 'uptime']);
        assert.equal(refused.code, 1, refused.output);
        assert.match(refused.output, new RegExp(`\\[${disabled.hostname}\\]\\s+failed: EXEC_DISABLED`));
        assert.match(refused.output, /1 node: 0 succeeded, 1 failed/);
      });

      it('--json prints the NDJSON events; no matching node exits 4 (NODE_NOT_FOUND)', async () => {
        const json = await cli(['--selector', 'env=dev', '--json', '--', 'uptime']);
        assert.equal(json.code, 1, json.output);
        const events = json.output
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as ExecEvent);
        assert.deepEqual(
          events.map((e) => e.type),
          ['start', 'exit', 'done'],
        );
        const none = await cli(['--selector', 'env=nowhere', '--', 'uptime']);
        assert.equal(none.code, 4, none.output);
        assert.match(none.output, /no node you may exec on matches/);
      });
    });
  });
}
