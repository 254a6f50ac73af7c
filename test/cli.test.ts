import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/core/logger.js';
import { Server } from '../src/server/server.js';
import { saveClientConfig } from '../src/cli/context.js';

// The built CLI, as users run it (`npm test` builds first).
const CLI = join(import.meta.dirname, '..', 'bin', 'bulwark.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI in a child process (asynchronously: the server under test lives in this process). */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function assertOneLineError(run: Run, pattern: RegExp): void {
  assert.notEqual(run.code, 0, `expected a failure, got exit 0 with ${run.stdout}`);
  const lines = run.stderr.trim().split('\n');
  assert.match(lines[0] ?? '', pattern);
  assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
}

describe('CLI against a running server', () => {
  let dir: string;
  let server: Server;
  let flags: string[];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bulwark-cli-'));
    server = await Server.start({ dataDir: dir, api: { port: 0 }, agent: { host: '127.0.0.1', port: 0 }, logger: silentLogger });
    await saveClientConfig(dir, server.apiUrl);
    flags = ['--data-dir', dir];
  });

  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('an unknown node prints one line and exits 4', async () => {
    const run = await cli(['nodes', 'show', 'no-such-node', ...flags]);
    assert.equal(run.code, 4);
    assertOneLineError(run, /^bulwark: node "no-such-node" not found/);
  });

  it('a malformed selector prints one line and exits 2', async () => {
    const run = await cli(['nodes', 'ls', '--selector', 'env in (prod', ...flags]);
    assert.equal(run.code, 2);
    assertOneLineError(run, /^bulwark: selector "env in \(prod" is invalid at position \d+/);
  });

  it('an unreachable server prints one line and exits 8', async () => {
    const run = await cli(['nodes', 'ls', '--server', 'https://127.0.0.1:1', ...flags]);
    assert.equal(run.code, 8);
    assertOneLineError(run, /^bulwark: cannot reach https:\/\/127\.0\.0\.1:1/);
  });

  it('an unknown option exits 2 with a hint', async () => {
    const run = await cli(['nodes', 'ls', '--bogus', ...flags]);
    assert.equal(run.code, 2);
    assertOneLineError(run, /unknown option '--bogus'/);
  });

  it('a bad --uses value is refused before any call', async () => {
    const run = await cli(['token', 'create', '--uses', '0', ...flags]);
    assert.equal(run.code, 2);
    assertOneLineError(run, /--uses must be a whole number/);
  });

  it('a wrong token is refused with exit 3', async () => {
    const run = await cli(['nodes', 'ls', ...flags], { BULWARK_TOKEN: 'bwt_aaaaaaaaaaaaaaaa_' + 'A'.repeat(43) });
    assert.equal(run.code, 3);
    assertOneLineError(run, /token or session is invalid/);
  });

  it('help shows examples', async () => {
    const run = await cli(['token', 'create', '--help']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /Examples:\n\s+\$ bulwark token create/);
  });

  it('token create → agent join with a wrong pin exits 7 and the token stays unused; with the right pin the node is listed in --json', async () => {
    const created = await cli(['token', 'create', '--ttl', '10m', '--uses', '1', '--label', 'env=prod', '--json', ...flags]);
    assert.equal(created.code, 0, created.stderr);
    const token = (JSON.parse(created.stdout) as { token: string }).token;
    const agentDir = join(dir, 'agent-1');
    const wrong = await cli(['agent', 'join', '--server', server.agentUrl, '--token', token, '--ca-pin', `sha256:${'ab'.repeat(32)}`, '--data-dir', agentDir]);
    assert.equal(wrong.code, 7);
    assertOneLineError(wrong, /does not match/);
    const joined = await cli(['agent', 'join', '--server', server.agentUrl, '--token', token, '--ca-pin', server.caPin, '--data-dir', agentDir, '--hostname', 'cli-node']);
    assert.equal(joined.code, 0, joined.stderr);
    const again = await cli(['agent', 'join', '--server', server.agentUrl, '--token', token, '--ca-pin', server.caPin, '--data-dir', join(dir, 'agent-2')]);
    assert.equal(again.code, 3);
    assertOneLineError(again, /used up/);
    const listed = await cli(['nodes', 'ls', '--json', '--selector', 'env=prod', ...flags]);
    assert.equal(listed.code, 0, listed.stderr);
    const nodes = JSON.parse(listed.stdout) as { name: string; state: string; labels: Record<string, string> }[];
    assert.deepEqual(
      nodes.map((n) => [n.name, n.state, n.labels.env]),
      [['cli-node', 'pending', 'prod']],
    );
  });

  it('a malformed --ca-pin is refused with a clear line', async () => {
    const run = await cli(['agent', 'join', '--server', server.agentUrl, '--token', 'x', '--ca-pin', 'md5:abc', '--data-dir', join(dir, 'agent-3')]);
    assert.equal(run.code, 2);
    assertOneLineError(run, /sha256:/);
  });
});

describe('auditlog verify --offline', () => {
  it('reads the database directly and names the first bad entry of a tampered log (exit 10)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bulwark-audit-offline-'));
    try {
      const server = await Server.start({ dataDir: dir, api: { port: 0 }, agent: { host: '127.0.0.1', port: 0 }, logger: silentLogger });
      await saveClientConfig(dir, server.apiUrl);
      for (let i = 0; i < 3; i++) assert.equal((await cli(['nodes', 'ls', '--data-dir', dir])).code, 0);
      await server.close();
      const intact = await cli(['auditlog', 'verify', '--offline', '--data-dir', dir]);
      assert.equal(intact.code, 0, intact.stderr);
      assert.match(intact.stdout, /Audit log intact: [1-9]\d* entries/);
      const { default: Database } = await import('better-sqlite3');
      const db = new Database(join(dir, 'bulwark.db'));
      db.prepare("update audit_entries set actor = 'mallory' where seq = 2").run();
      db.close();
      const tampered = await cli(['auditlog', 'verify', '--offline', '--data-dir', dir]);
      assert.equal(tampered.code, 10);
      assertOneLineError(tampered, /first bad entry seq 2 \(modified\)/);
      const nowhere = await cli(['auditlog', 'verify', '--offline', '--data-dir', join(dir, 'missing')]);
      assert.equal(nowhere.code, 9);
      assertOneLineError(nowhere, /no database at/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
