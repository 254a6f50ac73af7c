/**
 * Security audits end to end: a real server, real in-process agents over mutual
 * TLS auditing fixture trees, custom policies, the advisory data set, TLS scans
 * of a real listener, schedules firing on the server's clock, drift events,
 * node scopes on findings, reports, and the CLI. On every database.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { addToFixtureTree } from '../src/host/fixture-tree.js';
import { startTlsServer, weakCertificate } from '../src/checks/tls/test-endpoints.js';
import { testDatabases } from '../src/store/test-databases.js';
import { joinAgent, mintApiToken, openRawDb, ShiftedClock, spawnCli, startTestServer, waitFor, withTempDir, type ErrorJson, type TestAgent, type TestServer } from './harness.js';

const POLICY = `policy:
  id: it-policy
  name: Integration test policy
  description: three checks with known answers
  format: bulwark/v1
checks:
  - id: ssh-no-root
    title: SSH root login is off
    severity: high
    rationale: A root login skips the audit trail of sudo.
    remediation: Set PermitRootLogin no in /etc/ssh/sshd_config.
    condition: all
    rules:
      - config: /etc/ssh/sshd_config
        key: PermitRootLogin
        equals: 'no'
  - id: shadow-mode
    title: /etc/shadow is not readable by everyone
    severity: medium
    rationale: Password hashes can be cracked offline.
    remediation: chmod 0640 /etc/shadow
    condition: all
    rules:
      - file: /etc/shadow
        mode_max: '0640'
  - id: ip-forward-off
    title: IP forwarding is off
    severity: low
    rationale: A host that forwards packets is a router.
    remediation: sysctl -w net.ipv4.ip_forward=0
    condition: all
    rules:
      - sysctl: net.ipv4.ip_forward
        equals: '0'
`;

const DPKG_STATUS = `Package: openssl
Status: install ok installed
Architecture: amd64
Version: 3.0.11-1~deb12u1

Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u1

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1
`;

function osvRecord(id: string, name: string, fixed: string): Record<string, unknown> {
  return {
    schema_version: '1.6.0',
    id,
    modified: '2026-01-01T00:00:00Z',
    summary: `${name} security update`,
    affected: [{ package: { ecosystem: 'Debian:12', name }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed }] }] }],
    references: [{ type: 'ADVISORY', url: `https://security-tracker.debian.org/tracker/${id}` }],
  };
}

interface RunView {
  run: { id: string; status: string; nodeCount: number };
  results: { nodeId: string; status: string; summary: { passed: number; failed: number; score: number } | null; drift: { regressed: string[]; resolved: string[] } | null; failure: { code: string } | null }[];
}
interface FindingView {
  key: string;
  kind: string;
  ruleId: string;
  status: string;
  severity: string;
  evidence: string;
  nodeId: string;
  nodeName: string;
  details?: Record<string, unknown>;
}

async function hardenedTree(agent: TestAgent): Promise<void> {
  await addToFixtureTree(agent.root, {
    '/etc/ssh/sshd_config': 'PermitRootLogin no\nPasswordAuthentication no\n',
    '/etc/shadow': 'root:*:19000:0:99999:7:::\n',
    '/proc/sys/net/ipv4/ip_forward': '0\n',
    '/var/lib/dpkg/status': DPKG_STATUS,
    '/etc/os-release': 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n',
  });
  await chmod(join(agent.root, 'etc/shadow'), 0o640);
}

async function runAndWait(t: TestServer, body: Record<string, unknown>, token?: string): Promise<RunView> {
  const started = await t.api<{ run: { id: string } } & ErrorJson>('POST', '/v1/audits/runs', body, token ? { token } : {});
  assert.equal(started.status, 202, started.body);
  return waitFor(
    async () => {
      const res = await t.api<RunView>('GET', `/v1/audits/runs/${started.json.run.id}`);
      return res.json.run.status === 'done' ? res.json : undefined;
    },
    { timeoutMs: 120_000, message: 'audit run to finish' },
  );
}

async function findings(t: TestServer, query: string, token?: string): Promise<FindingView[]> {
  const res = await t.api<{ findings: FindingView[] }>('GET', `/v1/audits/findings?${query}`, undefined, token ? { token } : {});
  assert.equal(res.status, 200, res.body);
  return res.json.findings;
}

for (const database of testDatabases()) {
  describe(`security audits on ${database.name}`, () => {
    let t: TestServer;
    const clock = new ShiftedClock();
    let prod: TestAgent;
    let dev: TestAgent;

    before(async () => {
      t = await startTestServer({ database, clock, auditTickMs: 100 });
      prod = await joinAgent(t, { labels: { env: 'prod' } });
      dev = await joinAgent(t, { labels: { env: 'dev' } });
      await hardenedTree(prod);
      await hardenedTree(dev);
      const added = await t.api('POST', '/v1/policies', { yaml: POLICY, fileName: 'it-policy.yml' });
      assert.equal(added.status, 200, added.body);
      const imported = await t.api<{ format: string; added: number }>(
        'POST',
        '/v1/vulndb/import?name=osv.json',
        JSON.stringify([osvRecord('DSA-9001-1', 'openssl', '3.0.11-1~deb12u2'), osvRecord('DSA-9002-1', 'zlib', '1:1.2.13.dfsg-1')]),
        { headers: { 'content-type': 'application/octet-stream' } },
      );
      assert.equal(imported.status, 200, imported.body);
      assert.deepEqual({ format: imported.json.format, added: imported.json.added }, { format: 'osv', added: 2 });
    });
    after(async () => {
      await prod?.close();
      await dev?.close();
      await t?.close();
    });

    it('runs a custom policy, matches vulnerabilities and scans a TLS target on every node, with exact findings', async () => {
      const apiPort = new URL(t.server.apiUrl).port;
      const view = await runAndWait(t, { policies: ['it-policy'], tlsListeners: false, tlsTargets: [`127.0.0.1:${apiPort}`] });
      assert.equal(view.run.nodeCount, 2);
      for (const r of view.results) {
        assert.equal(r.status, 'done');
        assert.equal(r.drift, null, 'a first result has no drift');
      }
      const all = await findings(t, `node=${prod.nodeId}&status=pass,fail,not_applicable`);
      const checks = all.filter((f) => f.kind === 'check').map((f) => [f.key, f.status]);
      assert.deepEqual(checks.sort(), [
        ['check:it-policy/ip-forward-off', 'pass'],
        ['check:it-policy/shadow-mode', 'pass'],
        ['check:it-policy/ssh-no-root', 'pass'],
      ]);
      // openssl is fixed in a later bookworm version: vulnerable, for the binary and the source package alike.
      // zlib's fix is the installed version itself: not reported.
      const vulns = all.filter((f) => f.kind === 'vulnerability');
      assert.deepEqual(vulns.map((f) => f.key).sort(), ['vulnerability:DSA-9001-1/libssl3', 'vulnerability:DSA-9001-1/openssl']);
      const libssl = vulns.find((f) => f.key === 'vulnerability:DSA-9001-1/libssl3');
      assert.equal(libssl?.details?.installed, '3.0.11-1~deb12u1');
      assert.equal(libssl?.details?.fixed, '3.0.11-1~deb12u2');
      assert.match(libssl?.evidence ?? '', /3\.0\.11-1~deb12u1/);
      // The API listener serves TLS 1.3 only with a certificate of the cluster CA, which the
      // agent trusts besides the system roots: a clean endpoint, not an untrusted one.
      const tls = all.filter((f) => f.kind === 'tls').map((f) => [f.ruleId, f.status]);
      assert.deepEqual(tls, [['tls-endpoint', 'pass']]);
    });

    it('a scheduled run that finds a regression raises a drift event', async () => {
      const set = await t.api<{ nextRunAt: number } & ErrorJson>('PUT', '/v1/audits/schedules/nightly', { cron: '0 3 * * *', selector: 'env=prod', policies: ['it-policy'], tlsListeners: false });
      assert.equal(set.status, 200, set.body);
      const before = await t.lastEventId();
      // Break the node, then move the server's clock past the schedule's time.
      await writeFile(join(prod.root, 'etc/ssh/sshd_config'), 'PermitRootLogin yes\n');
      clock.offsetMs += set.json.nextRunAt - clock.now() + 1000;
      const drift = await t.waitForEvent('audit.drift', { nodeId: prod.nodeId, afterId: before }, { timeoutMs: 60_000 });
      assert.equal(drift.details.regressed, 1);
      assert.deepEqual(drift.details.sample, ['check:it-policy/ssh-no-root']);
      const failing = await findings(t, `node=${prod.nodeId}&kind=check&status=fail`);
      assert.deepEqual(
        failing.map((f) => [f.key, f.evidence.includes('PermitRootLogin yes')]),
        [['check:it-policy/ssh-no-root', true]],
      );
      // Only the selected node ran; the schedule moved on to its next day.
      const schedules = await t.api<{ schedules: { name: string; nextRunAt: number; lastRunId: string | null }[] }>('GET', '/v1/audits/schedules');
      const nightly = schedules.json.schedules.find((s) => s.name === 'nightly');
      assert.ok(nightly?.lastRunId);
      assert.ok((nightly?.nextRunAt ?? 0) > clock.now());
      const run = await t.api<RunView>('GET', `/v1/audits/runs/${nightly?.lastRunId ?? ''}`);
      assert.deepEqual(run.json.results.map((r) => r.nodeId), [prod.nodeId]);
      const scheduleRemoved = await t.api('DELETE', '/v1/audits/schedules/nightly');
      assert.equal(scheduleRemoved.status, 204);
    });

    it('a weak TLS endpoint appearing between two runs is drift', async () => {
      const weak = await weakCertificate();
      const endpoint = await startTlsServer({ key: weak.keyPem, cert: weak.certPem, minVersion: 'TLSv1', maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA:@SECLEVEL=0' });
      try {
        const before = await t.lastEventId();
        const view = await runAndWait(t, { selector: 'env=dev', policies: ['it-policy'], tlsListeners: false, tlsTargets: [`127.0.0.1:${endpoint.port}`] });
        assert.equal(view.results[0]?.status, 'done');
        const failing = (await findings(t, `node=${dev.nodeId}&kind=tls&status=fail`)).map((f) => f.ruleId).sort();
        assert.deepEqual(failing, ['tls-cert-expired', 'tls-cert-self-signed', 'tls-cipher-cbc-sha1-tls10', 'tls-key-weak', 'tls-protocol-weak', 'tls-signature-weak']);
        const drift = await t.waitForEvent('audit.drift', { nodeId: dev.nodeId, afterId: before });
        assert.equal(drift.details.newTls, failing.length);
        assert.equal(drift.details.regressed, 0);
      } finally {
        await endpoint.close();
      }
    });

    it('findings, results and reports show only the nodes in the caller’s scope', async () => {
      const roles = await t.api('PUT', '/v1/roles', {
        yaml: 'name: dev-auditor\nallow:\n  - resources: [audits]\n    verbs: [list, read]\n    nodes: env=dev\ndeny: []\n',
      });
      assert.equal(roles.status, 200, roles.body);
      const { token } = await mintApiToken(t, 'dev-auditor');
      const seen = new Set((await findings(t, 'status=pass,fail', token)).map((f) => f.nodeId));
      assert.deepEqual([...seen], [dev.nodeId]);
      const hidden = await t.api<ErrorJson>('GET', `/v1/audits/findings?node=${prod.nodeId}`, undefined, { token });
      assert.equal(hidden.status, 404);
      const report = await t.api('GET', '/v1/audits/report?format=json', undefined, { token });
      assert.equal(report.status, 200);
      const nodes = (JSON.parse(report.body) as { nodes: { id: string }[] }).nodes.map((n) => n.id);
      assert.deepEqual(nodes, [dev.nodeId]);
      const denied = await t.api<ErrorJson>('POST', '/v1/audits/runs', { selector: '' }, { token });
      assert.equal(denied.status, 403);
    });

    it('runs and schedules beyond the caller’s scope are neither listed nor touched', async () => {
      const roles = await t.api('PUT', '/v1/roles', {
        yaml: 'name: dev-scheduler\nallow:\n  - resources: [audits]\n    verbs: [list, read, run, schedule]\n    nodes: env=dev\ndeny: []\n',
      });
      assert.equal(roles.status, 200, roles.body);
      const { token } = await mintApiToken(t, 'dev-scheduler');
      const prodRun = await runAndWait(t, { selector: 'env=prod', policies: ['it-policy'], tlsListeners: false, vulnerabilities: false });
      const listed = await t.api<{ runs: { id: string; nodeCount: number }[] }>('GET', '/v1/audits/runs?limit=100', undefined, { token });
      assert.equal(listed.status, 200);
      assert.ok(!listed.json.runs.some((r) => r.id === prodRun.run.id), 'a prod-only run is not listed');
      assert.ok(listed.json.runs.every((r) => r.nodeCount === 1), 'runs count only the nodes in scope');
      assert.equal((await t.api('GET', `/v1/audits/runs/${prodRun.run.id}`, undefined, { token })).status, 404);
      const admin = await t.api('PUT', '/v1/audits/schedules/prod-nightly', { cron: '0 4 * * *', selector: 'env=prod', enabled: false });
      assert.equal(admin.status, 200, admin.body);
      const schedules = await t.api<{ schedules: { name: string }[] }>('GET', '/v1/audits/schedules', undefined, { token });
      assert.ok(!schedules.json.schedules.some((s) => s.name === 'prod-nightly'));
      const overwrite = await t.api<ErrorJson>('PUT', '/v1/audits/schedules/prod-nightly', { cron: '0 4 * * *', selector: 'env=dev' }, { token });
      assert.equal(overwrite.status, 403);
      assert.equal((await t.api('DELETE', '/v1/audits/schedules/prod-nightly', undefined, { token })).status, 404);
      const wide = await t.api<ErrorJson>('PUT', '/v1/audits/schedules/mine', { cron: '0 4 * * *', selector: '' }, { token });
      assert.equal(wide.status, 403, 'a selector reaching beyond the scope is refused');
      const own = await t.api('PUT', '/v1/audits/schedules/mine', { cron: '0 4 * * *', selector: 'env=dev', enabled: false }, { token });
      assert.equal(own.status, 200, own.body);
      assert.equal((await t.api('DELETE', '/v1/audits/schedules/mine', undefined, { token })).status, 204);
      assert.equal((await t.api('DELETE', '/v1/audits/schedules/prod-nightly')).status, 204);
    });

    it('a node lying about its packages costs a refusal, not the server', async () => {
      // Enough advisories on one source package that a made-up inventory would need millions of comparisons.
      const many = Array.from({ length: 1100 }, (_, i) => osvRecord(`DSA-8${String(i).padStart(3, '0')}-1`, 'linux', '6.1.0-1'));
      const imported = await t.api('POST', '/v1/vulndb/import?name=linux.json', JSON.stringify(many), { headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(imported.status, 200, imported.body);
      await dev.stop();
      try {
        const started = await t.api<{ run: { id: string } }>('POST', '/v1/audits/runs', { selector: 'env=dev', policies: [], tlsListeners: false, timeoutSeconds: 60 });
        assert.equal(started.status, 202, started.body);
        const db = await openRawDb(t);
        const [row] = await db.all<{ request_id: string }>('select request_id from audit_node_results where run_id = ?', [started.json.run.id]);
        await db.close();
        assert.ok(row);
        const packages = Array.from({ length: 1000 }, (_, i) => ({ name: `fake${i}`, version: '1.0-1', source: 'linux', sourceVersion: '5.0-1' }));
        await t.server.audits.onResult(dev.nodeId, { type: 'audit_result', requestId: row.request_id, startedAt: 0, finishedAt: 1e15, findings: [], errors: [], inventory: { manager: 'dpkg', release: 'bookworm', packages } });
        const view = await t.api<RunView & { results: { errors: { source: string; message: string }[]; startedAt: number; finishedAt: number }[] }>('GET', `/v1/audits/runs/${started.json.run.id}`);
        const result = view.json.results[0];
        assert.equal(result?.status, 'done');
        assert.equal(result?.summary?.failed, 0);
        assert.match(result?.errors.map((e) => e.message).join('\n') ?? '', /over the budget/);
        // The node's clock decides nothing.
        assert.ok((result?.finishedAt ?? Infinity) <= clock.now());
      } finally {
        await dev.restart();
      }
    });

    it('writes HTML and SARIF reports of the fleet', async () => {
      await runAndWait(t, { policies: ['it-policy'], tlsListeners: false });
      const html = await t.api('GET', '/v1/audits/report?format=html');
      assert.equal(html.status, 200);
      assert.match(String(html.headers['content-type']), /text\/html/);
      assert.ok(html.body.includes(prod.hostname) && html.body.includes(dev.hostname));
      // The openssl advisory fails on both nodes, whatever else ran before.
      assert.ok(html.body.includes('DSA-9001-1'));
      const sarif = await t.api('GET', '/v1/audits/report?format=sarif');
      const parsed = JSON.parse(sarif.body) as { version: string; runs: { results: { ruleId: string }[] }[] };
      assert.equal(parsed.version, '2.1.0');
      assert.ok(parsed.runs[0]?.results.some((r) => r.ruleId.includes('DSA-9001-1')));
    });

    it('refuses bad input with one clear error and stores nothing', async () => {
      const statsBefore = await t.api<{ sources: { origin: string; count: number }[] }>('GET', '/v1/vulndb');
      const badPolicy = await t.api<ErrorJson>('POST', '/v1/policies', { yaml: 'policy:\n  id: x\nchecks: [1\n', fileName: 'broken.yml' });
      assert.equal(badPolicy.status, 400);
      assert.equal(badPolicy.json.error.code, 'INVALID_POLICY');
      assert.match(badPolicy.json.error.message, /broken\.yml:\d+/);
      const badCron = await t.api<ErrorJson>('PUT', '/v1/audits/schedules/x', { cron: '61 * * * *' });
      assert.equal(badCron.status, 400);
      assert.equal(badCron.json.error.code, 'INVALID_SCHEDULE');
      const badTarget = await t.api<ErrorJson>('POST', '/v1/audits/runs', { tlsTargets: ['no-port'] });
      assert.equal(badTarget.status, 400);
      assert.equal(badTarget.json.error.code, 'INVALID_TARGET');
      const unknownPolicy = await t.api<ErrorJson>('POST', '/v1/audits/runs', { policies: ['nope'] });
      assert.equal(unknownPolicy.status, 404);
      const badAdvisories = await t.api<ErrorJson>('POST', '/v1/vulndb/import', '{"not": "advisories"}', { headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(badAdvisories.status, 400);
      assert.equal(badAdvisories.json.error.code, 'INVALID_ADVISORIES');
      const stats = await t.api<{ sources: { origin: string; count: number }[] }>('GET', '/v1/vulndb');
      assert.deepEqual(stats.json.sources, statsBefore.json.sources);
      const policies = await t.api<{ policies: { id: string }[] }>('GET', '/v1/policies');
      assert.ok(!policies.json.policies.some((p) => p.id === 'x'));
    });

    it('an agent that is not connected fails its node result, not the run', async () => {
      await dev.stop();
      try {
        const view = await runAndWait(t, { selector: 'env=dev', policies: ['it-policy'], timeoutSeconds: 5 });
        assert.equal(view.results[0]?.status, 'failed');
        assert.equal(view.results[0]?.failure?.code, 'NOT_CONNECTED');
      } finally {
        await dev.restart();
      }
    });

    it('the CLI lists findings as JSON and writes a report file', async () => {
      const common = ['--server', t.server.apiUrl, '--ca', join(t.dataDir, 'ca.pem'), '--token', t.adminToken, '--data-dir', t.dataDir];
      const list = spawnCli(['audit', 'findings', '--severity', 'high', '--json', ...common]);
      assert.equal((await list.exited).code, 0, list.output());
      const listed = JSON.parse(list.output()) as FindingView[];
      assert.ok(listed.length > 0);
      assert.ok(listed.every((f) => f.severity === 'high' || f.severity === 'critical'));
      assert.ok(listed.every((f) => f.status === 'fail'));
      await withTempDir('bulwark-report-', async (dir) => {
        const file = join(dir, 'fleet.junit.xml');
        const report = spawnCli(['audit', 'report', '--format', 'junit', '-o', file, ...common]);
        assert.equal((await report.exited).code, 0, report.output());
        assert.match(await readFile(file, 'utf8'), /<testsuites[\s>]/);
      });
    });
  });
}

describe('audit CLI without a server', () => {
  it('`policy validate` names the file and line of a malformed policy and exits 2', async () => {
    await withTempDir('bulwark-policy-', async (dir) => {
      const good = join(dir, 'good.yml');
      const bad = join(dir, 'bad.yml');
      await writeFile(good, POLICY);
      await writeFile(bad, POLICY.replace('      - sysctl: net.ipv4.ip_forward', '      - sysctl: net.ipv4.ip_forward\n        equal: 1'));
      const ok = spawnCli(['policy', 'validate', good]);
      assert.equal((await ok.exited).code, 0, ok.output());
      assert.match(ok.output(), /ok, policy "it-policy" \(bulwark\/v1\), 3 checks/);
      const refused = spawnCli(['policy', 'validate', bad]);
      assert.equal((await refused.exited).code, 2, refused.output());
      assert.match(refused.output(), /bad\.yml:\d+:\d+: .*equal/);
      assert.doesNotMatch(refused.output(), /\n\s+at /, 'no stack trace');
    });
  });

  it('`audit local` audits a directory tree and exits 1 when a check fails', async () => {
    await withTempDir('bulwark-local-', async (dir) => {
      const root = join(dir, 'root');
      const policy = join(dir, 'it.yml');
      await writeFile(policy, POLICY);
      await addToFixtureTree(root, { '/etc/ssh/sshd_config': 'PermitRootLogin yes\n', '/etc/shadow': 'root:*:1::::::\n', '/proc/sys/net/ipv4/ip_forward': '0\n' });
      await chmod(join(root, 'etc/shadow'), 0o600);
      const run = spawnCli(['audit', 'local', '--root', root, '--policy-file', policy, '--format', 'json']);
      assert.equal((await run.exited).code, 1, run.output());
      const report = JSON.parse(run.output()) as { nodes: { findings: { key: string; status: string }[] }[] };
      const statuses = Object.fromEntries((report.nodes[0]?.findings ?? []).map((f) => [f.key, f.status]));
      assert.deepEqual(statuses, { 'check:it-policy/ssh-no-root': 'fail', 'check:it-policy/shadow-mode': 'pass', 'check:it-policy/ip-forward-off': 'pass' });
      await rm(root, { recursive: true, force: true });
      const missing = spawnCli(['audit', 'local', '--root', join(dir, 'no-such-root'), '--policy-file', policy]);
      assert.equal((await missing.exited).code, 2, missing.output());
      assert.match(missing.output(), /--root .*no-such-root is not a directory/);
    });
  });
});
