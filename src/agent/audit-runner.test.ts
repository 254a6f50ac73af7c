import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../core/clock.js';
import { BulwarkError } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { makeFixtureTree, removeFixtureTree } from '../host/fixture-tree.js';
import type { AuditRequest, AuditResultMessage } from '../protocol/checks.js';
import { AuditRunner, DEFAULT_AUDIT_POLICY, auditWorkerCandidates, findAuditWorkerEntry, type AuditPolicy } from './audit-runner.js';
import { runAuditJob } from './audit-worker.js';
import { loadAgentConfig, resolveAuditPolicy } from './config.js';

const TINY = `policy: { id: tiny, name: Tiny, format: bulwark/v1 }
checks:
  - id: present
    title: The marker file exists
    severity: low
    rationale: r
    remediation: r
    condition: all
    rules: [{ file: /etc/marker, exists: true }]
  - id: absent
    title: The missing file exists
    severity: low
    rationale: r
    remediation: r
    condition: all
    rules: [{ file: /etc/missing, exists: true }]
`;

// 2^40 backtracking steps for a 41-character line: never finishes.
const REDOS = `policy: { id: redos, name: Catastrophic backtracking }
checks:
  - id: 1
    title: A line of a's
    condition: all
    regex_type: pcre2
    rules: ['f:/data/line -> r:^(a+)+$']
`;

const SECRET = 'BEGIN-PRIVATE-KEY-not-for-policies';

const READS_DATA_DIR = `policy: { id: peek, name: Peek, format: bulwark/v1 }
checks:
  - id: key-content
    title: Reads the agent key
    severity: low
    rationale: r
    remediation: r
    condition: all
    rules: ['f:/var/lib/bulwark/node.key -> r:PRIVATE']
  - id: denied-content
    title: Reads a configured denied path
    severity: low
    rationale: r
    remediation: r
    condition: all
    rules: ['f:/srv/private/notes -> r:PRIVATE']
`;

function request(requestId: string, text: string, timeoutMs = 60_000): AuditRequest {
  return { type: 'audit', requestId, timeoutMs, scope: { policies: [{ id: requestId, text }], inventory: false, tlsListeners: false, tlsTargets: [] } };
}

describe('audit worker entry', () => {
  it('is found beside the bundle, one level up from a chunk, or as TypeScript source', () => {
    const files = new Set(['/pkg/dist/audit-worker.js', '/repo/src/agent/audit-worker.ts']);
    const exists = (path: string): boolean => files.has(path);
    assert.equal(fileURLToPath(findAuditWorkerEntry('file:///pkg/dist/bulwark.js', exists)), '/pkg/dist/audit-worker.js');
    assert.equal(fileURLToPath(findAuditWorkerEntry('file:///pkg/dist/chunks/agent-ABC123.js', exists)), '/pkg/dist/audit-worker.js');
    assert.equal(fileURLToPath(findAuditWorkerEntry('file:///repo/src/agent/audit-runner.ts', exists)), '/repo/src/agent/audit-worker.ts');
    assert.throws(
      () => findAuditWorkerEntry('file:///elsewhere/x.js', exists),
      (err: unknown) => err instanceof BulwarkError && err.code === 'INTERNAL' && err.message.includes('/elsewhere/audit-worker.js'),
    );
    assert.equal(auditWorkerCandidates('file:///pkg/dist/chunks/a.js').length, 3);
  });

  it('is the TypeScript source when run from the repository', () => {
    assert.equal(fileURLToPath(findAuditWorkerEntry()), fileURLToPath(new URL('./audit-worker.ts', import.meta.url)));
  });

  it('reports a job that cannot run as an error message, not a throw', async () => {
    const reply = await runAuditJob({ kind: 'bulwark-audit', root: '/nonexistent', policy: DEFAULT_AUDIT_POLICY, deniedPaths: [], plan: undefined as never, clockOffsetMs: 0 });
    assert.equal(reply.ok, false);
  });
});

describe('AuditRunner', () => {
  let root: string;
  let dataDir: string;

  before(async () => {
    root = await makeFixtureTree({
      '/etc/marker': 'x\n',
      '/data/line': `${'a'.repeat(40)}!\n`,
      '/var/lib/bulwark/node.key': `${SECRET}\n`,
      '/srv/private/notes': `${SECRET}\n`,
    });
    // The data directory lies inside the audited tree, so that a policy could reach it without the deny list.
    dataDir = join(root, 'var/lib/bulwark');
  });
  after(async () => {
    await removeFixtureTree(root);
  });

  const runner = (policy: Partial<AuditPolicy> = {}): AuditRunner =>
    new AuditRunner({ policy: { ...DEFAULT_AUDIT_POLICY, ...policy }, root, dataDir, clock: systemClock, log: silentLogger });

  async function runOne(r: AuditRunner, req: AuditRequest): Promise<AuditResultMessage[]> {
    const replies: AuditResultMessage[] = [];
    await r.run(req, (m) => replies.push(m));
    return replies;
  }

  it('answers audit_result with the findings of the policy', async () => {
    const replies = await runOne(runner(), request('normal', TINY));
    assert.equal(replies.length, 1);
    const [reply] = replies;
    assert.equal(reply?.type, 'audit_result');
    assert.equal(reply?.requestId, 'normal');
    assert.equal(reply?.failure, undefined);
    assert.deepEqual(reply?.errors, []);
    const status = Object.fromEntries((reply?.findings ?? []).map((f) => [f.key, f.status]));
    assert.deepEqual(status, { 'check:tiny/present': 'pass', 'check:tiny/absent': 'fail' });
    assert.ok((reply?.finishedAt ?? 0) >= (reply?.startedAt ?? Infinity));
  });

  it('terminates a catastrophic regex at the timeout, stays responsive, and takes the next request', async () => {
    const r = runner();
    let ticks = 0;
    const interval = setInterval(() => ticks++, 20);
    let replies: AuditResultMessage[];
    try {
      replies = await runOne(r, request('redos', REDOS, 1500));
    } finally {
      clearInterval(interval);
    }
    assert.equal(replies.length, 1);
    assert.equal(replies[0]?.requestId, 'redos');
    assert.equal(replies[0]?.failure?.code, 'TIMEOUT');
    assert.match(replies[0]?.failure?.message ?? '', /1\.5 s/);
    assert.deepEqual(replies[0]?.findings, []);
    // The regex ran on another thread: the agent's own timers kept firing.
    assert.ok(ticks >= 5, `the main thread's interval ticked ${ticks} times during the audit`);

    const next = await runOne(r, request('after-timeout', TINY));
    assert.equal(next.length, 1);
    assert.equal(next[0]?.failure, undefined);
    assert.equal(next[0]?.findings.length, 2);
  });

  it('refuses a second request while one runs and ignores a duplicate of the running one', async () => {
    const r = runner();
    const replies: AuditResultMessage[] = [];
    const send = (m: AuditResultMessage): void => void replies.push(m);
    const first = r.run(request('slow', REDOS, 1500), send);
    await r.run(request('other', TINY), send);
    assert.equal(replies.length, 1);
    assert.equal(replies[0]?.requestId, 'other');
    assert.equal(replies[0]?.failure?.code, 'CONFLICT');

    // The server re-offers the running request after a reconnect: no second answer.
    await r.run(request('slow', REDOS, 1500), send);
    assert.equal(replies.length, 1);

    await first;
    assert.deepEqual(
      replies.map((m) => [m.requestId, m.failure?.code]),
      [
        ['other', 'CONFLICT'],
        ['slow', 'TIMEOUT'],
      ],
      `replies: ${JSON.stringify(replies).slice(0, 2000)}`,
    );
  });

  it('stop() ends the running audit with TIMEOUT at once and frees the runner', async () => {
    const r = runner();
    const replies: AuditResultMessage[] = [];
    const running = r.run(request('stopped', REDOS, 600_000), (m) => replies.push(m));
    r.stop();
    await running;
    assert.equal(replies.length, 1);
    assert.equal(replies[0]?.failure?.code, 'TIMEOUT');
    const next = await runOne(r, request('after-stop', TINY));
    assert.equal(next[0]?.failure, undefined);
  });

  it('denies the data directory and the configured paths, as host-absolute paths', () => {
    // The data directory is a path of this machine: under a fixture root it is named as the root sees it.
    assert.deepEqual(runner({ deniedPaths: ['/srv/private/', '/srv/private'] }).deniedPaths(), ['/var/lib/bulwark', '/srv/private']);
    const live = (dir: string): AuditRunner => new AuditRunner({ policy: DEFAULT_AUDIT_POLICY, root: '/', dataDir: dir, clock: systemClock, log: silentLogger });
    assert.deepEqual(live('/var/lib/bulwark-agent/').deniedPaths(), ['/var/lib/bulwark-agent']);
  });

  it('never reads the agent data directory or audit.deny_paths', async () => {
    const replies = await runOne(runner({ deniedPaths: ['/srv/private'] }), request('peek', READS_DATA_DIR));
    assert.equal(replies.length, 1);
    const findings = replies[0]?.findings ?? [];
    assert.equal(findings.length, 2);
    for (const finding of findings) {
      assert.equal(finding.status, 'not_applicable', `${finding.key}: ${finding.evidence}`);
      assert.ok(!JSON.stringify(finding).includes(SECRET), `${finding.key} must not show the file's content`);
    }
  });
});

describe('audit.deny_paths', () => {
  it('is read from config.yaml into the audit policy', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bulwark-agent-config-'));
    try {
      await writeFile(join(dir, 'config.yaml'), 'audit:\n  deny_paths: [/root/.ssh, /etc/bulwark]\n');
      const policy = resolveAuditPolicy(await loadAgentConfig(dir), {});
      assert.deepEqual(policy.deniedPaths, ['/root/.ssh', '/etc/bulwark']);
      assert.deepEqual(resolveAuditPolicy({}, {}).deniedPaths, []);

      await writeFile(join(dir, 'config.yaml'), 'audit:\n  deny_paths: [relative/path]\n');
      await assert.rejects(loadAgentConfig(dir), (err: unknown) => err instanceof BulwarkError && err.code === 'CONFIG_INVALID' && /deny_paths/.test(err.message));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
