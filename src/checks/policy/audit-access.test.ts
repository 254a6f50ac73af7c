import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeFixtureTree, removeFixtureTree } from '../../host/fixture-tree.js';
import type { AuditHost } from '../host.js';
import type { Finding } from '../model.js';
import { createRuleContext } from './context.js';
import { evaluatePolicy } from './evaluate.js';
import { parsePolicy } from './parse.js';
import { DENIED_REASON } from './path-guard.js';
import { WITHHELD } from './redact.js';
import { createRootedHost } from './rooted-host.js';

const SHA512 = '$6$Xq3FZ0lE$kVxH0p1Kk8tqfV4m2Qq1x9hL0aZ3jQ7bYc2d5e6f7g8h9i0j1k2l3m4n5o6p7q8r9s0t1u2v3w4x5y6z7A8B9';
const KEY_BODY = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj';
const PRIVATE_KEY = `-----BEGIN PRIVATE KEY-----\n${KEY_BODY}\n-----END PRIVATE KEY-----\n`;

let root = '';
let host: AuditHost;
let socket: Server | undefined;
/** Why the FIFO case cannot run here, or undefined when `mkfifo` made one. */
let noFifo: string | undefined;

/** One check of the given rules (SCA strings or typed rule objects as YAML) against the host: its status and evidence. */
async function check(rules: string[], options: { condition?: string; on?: AuditHost } = {}): Promise<Pick<Finding, 'status' | 'evidence'>> {
  const text = `policy: { id: t, name: t, format: bulwark/v1 }
checks:
  - id: c1
    title: t
    severity: low
    rationale: r
    remediation: m
    condition: ${options.condition ?? 'all'}
    rules:
${rules.map((r) => `      - ${r.startsWith('{') ? r : `'${r.replace(/'/g, "''")}'`}`).join('\n')}
`;
  const result = await evaluatePolicy(parsePolicy(text, 't.yml'), options.on ?? host, { now: 0 });
  assert.deepEqual(result.errors, []);
  const [finding] = result.findings;
  assert.ok(finding);
  return { status: finding.status, evidence: finding.evidence };
}

const denied = (path: string): Pick<Finding, 'status' | 'evidence'> => ({ status: 'not_applicable', evidence: `${path}: ${DENIED_REASON}` });

describe('what a policy can see of a node', () => {
  before(async () => {
    root = await makeFixtureTree({
      '/etc/shadow': `root:${SHA512}:19800:0:99999:7:::\ndaemon:*:19800:0:99999:7:::\n`,
      '/etc/ssh/sshd_config': 'PermitRootLogin yes\n',
      '/etc/ssh/ssh_host_ed25519_key': PRIVATE_KEY,
      '/srv/backup/shadow.bak': `root:${SHA512}:19800:0:99999:7:::\n`,
      '/srv/app/key.pem': PRIVATE_KEY,
      '/srv/app/.env': `API_TOKEN=${'a1B2c3D4'.repeat(5)}\n`,
      '/var/lib/bulwark/node.key': PRIVATE_KEY,
      '/var/lib/bulwark/agent.yml': 'token: x\n',
      '/var/lib/bulwark/sub/deep.conf': 'x\n',
      '/var/lib/dpkg/status.conf': 'x\n',
      '/etc/bulwark-dir': { link: '/var/lib/bulwark' },
      '/etc/bulwark-key': { link: '../var/lib/bulwark/node.key' },
      '/etc/bulwark-chain': { link: '/etc/bulwark-dir/sub' },
      '/proc/kmsg': '<6>[    0.000000] Linux version 6.1.0\n',
      '/proc/412/environ': 'SECRET=x\0',
      '/proc/self': { link: '412' },
    });
    host = createRootedHost(root, { deniedPaths: ['/var/lib/bulwark'] });
    try {
      execFileSync('mkfifo', [join(root, 'srv/fifo')], { stdio: 'ignore' });
    } catch (err) {
      noFifo = `mkfifo is not available here (${err instanceof Error ? err.message : String(err)})`;
    }
    socket = createServer();
    await new Promise<void>((resolve, reject) => {
      socket?.once('error', reject).listen(join(root, 'srv/socket'), resolve);
    });
  });
  after(async () => {
    await new Promise<void>((resolve) => (socket ? socket.close(() => resolve()) : resolve()));
    await removeFixtureTree(root);
  });

  describe('denied paths', () => {
    it('are exposed on the host, normalised', () => {
      assert.deepEqual(createRootedHost(root, { deniedPaths: ['/var/lib/bulwark/', '/var/lib/../lib/bulwark', '/x'] }).deniedPaths, ['/var/lib/bulwark', '/x']);
      assert.equal(createRootedHost(root).deniedPaths, undefined);
    });

    it('refuse content, existence and listings, with no content in the evidence', async () => {
      assert.deepEqual(await check(['f:/var/lib/bulwark/node.key -> r:^M']), denied('/var/lib/bulwark/node.key'));
      assert.deepEqual(await check(['f:/var/lib/bulwark/node.key']), denied('/var/lib/bulwark/node.key'));
      // A file that does not exist is refused too: not even absence is told.
      assert.deepEqual(await check(['not f:/var/lib/bulwark/nope']), denied('/var/lib/bulwark/nope'));
      assert.deepEqual(await check(['d:/var/lib/bulwark']), denied('/var/lib/bulwark'));
      assert.deepEqual(await check(['d:/var/lib/bulwark -> r:\\.key$ -> r:^M']), denied('/var/lib/bulwark'));
      assert.deepEqual(await check(["{ config: /var/lib/bulwark/agent.yml, key: 'token:', absent: true }"]), denied('/var/lib/bulwark/agent.yml'));
      assert.deepEqual(await check(["{ file: /var/lib/bulwark/node.key, mode_max: '0600' }"]), denied('/var/lib/bulwark/node.key'));
      assert.deepEqual(await check(["{ file_age: /var/lib/bulwark/node.key, max_days: 1 }"]), denied('/var/lib/bulwark/node.key'));
    });

    it('are refused through a symlink into them, and through ..', async () => {
      assert.deepEqual(await check(['f:/etc/bulwark-key -> r:^M']), denied('/etc/bulwark-key'));
      assert.deepEqual(await check(['f:/etc/bulwark-dir/node.key -> r:^M']), denied('/etc/bulwark-dir/node.key'));
      assert.deepEqual(await check(['f:/etc/bulwark-chain/deep.conf -> r:x']), denied('/etc/bulwark-chain/deep.conf'));
      assert.deepEqual(await check(['f:/etc/../var/lib/bulwark/node.key -> r:^M']), denied('/etc/../var/lib/bulwark/node.key'));
      assert.deepEqual(await check(['f:/var/lib/dpkg/../bulwark/node.key -> r:^M']), denied('/var/lib/dpkg/../bulwark/node.key'));
      assert.deepEqual(await check(['d:/etc/bulwark-dir -> r:\\.key$']), denied('/etc/bulwark-dir'));
      assert.deepEqual(await check(["{ file: /etc/bulwark-key, mode_max: '0600' }"]), denied('/etc/bulwark-key'));
    });

    it('are left out of wildcards and directory searches, as if they were not there', async () => {
      assert.deepEqual(await check(['d:/var/lib -> r:\\.(key|conf)$ -> r:^M']), { status: 'fail', evidence: 'no line of /var/lib/dpkg/status.conf matches r:^M' });
      assert.deepEqual(await check(['d:/var/lib/* -> r:\\.conf$']), { status: 'pass', evidence: '/var/lib/dpkg/status.conf exists' });
      assert.deepEqual(await check(['f:/var/lib/*/node.key -> r:^M']), { status: 'not_applicable', evidence: '/var/lib/*/node.key does not exist' });
    });

    it('leave the other rules of a check to decide', async () => {
      assert.deepEqual(await check(['f:/var/lib/bulwark/node.key -> r:^M', 'f:/etc/ssh/sshd_config -> r:^PermitRootLogin'], { condition: 'any' }), {
        status: 'pass',
        evidence: '/etc/ssh/sshd_config:1: PermitRootLogin yes',
      });
      assert.deepEqual(await check(['f:/etc/ssh/sshd_config -> r:^Nope', 'f:/var/lib/bulwark/node.key -> r:^M'], { condition: 'all' }), {
        status: 'fail',
        evidence: 'no line of /etc/ssh/sshd_config matches r:^Nope',
      });
    });

    it('are refused by the rule context itself, every time, and resolve nothing', async () => {
      const ctx = createRuleContext(host, 0);
      for (const op of [ctx.readFile, ctx.stat, ctx.lstat, ctx.listDir, ctx.resolve]) {
        await assert.rejects(op('/etc/bulwark-dir/node.key'), { name: 'AccessRefusedError', message: `/etc/bulwark-dir/node.key: ${DENIED_REASON}` });
      }
      await assert.rejects(ctx.readFile('/etc/bulwark-dir/node.key'), { name: 'AccessRefusedError' });
      assert.equal(ctx.refusals.length, 6);
      // Asking is not reading.
      assert.equal(await ctx.isDenied('/etc/bulwark-key'), true);
      assert.equal(await ctx.isDenied('/etc/bulwark-dir'), true);
      assert.equal(await ctx.isDenied('/etc/bulwark-chain'), true);
      assert.equal(await ctx.isDenied('/var/lib/dpkg'), false);
      assert.equal(ctx.refusals.length, 6);
      // The link itself is not in the denied directory: only what it points to is.
      assert.equal((await ctx.lstat('/etc/bulwark-key'))?.isSymbolicLink(), true);
    });

    it('deny nothing when none are configured', async () => {
      const open = createRootedHost(root);
      assert.deepEqual(await check(['f:/var/lib/bulwark/agent.yml -> r:^token'], { on: open }), { status: 'pass', evidence: '/var/lib/bulwark/agent.yml:1: token: x' });
    });
  });

  describe('evidence', () => {
    it('withholds the lines of /etc/shadow and keeps where they are', async () => {
      assert.deepEqual(await check(['f:/etc/shadow -> r:^root:']), { status: 'pass', evidence: `/etc/shadow:1: ${WITHHELD}` });
      assert.deepEqual(await check(['f:/etc/shadow -> r:^root: && r:\\$1\\$']), { status: 'fail', evidence: `no line of /etc/shadow matches r:^root: && r:\\$1\\$ (line 1: ${WITHHELD})` });
      // A typed rule's evidence too.
      assert.deepEqual(await check(["{ config: /etc/shadow, key: 'daemon:*:19800:0:99999:7:::', absent: false }"]), { status: 'pass', evidence: `/etc/shadow:2: ${WITHHELD}` });
    });

    it('withholds host keys and any file holding a private key, wherever it is', async () => {
      assert.deepEqual(await check(['f:/etc/ssh/ssh_host_ed25519_key -> r:^M']), { status: 'pass', evidence: `/etc/ssh/ssh_host_ed25519_key:2: ${WITHHELD}` });
      assert.deepEqual(await check(['f:/srv/app/key.pem -> r:^M']), { status: 'pass', evidence: `/srv/app/key.pem:2: ${WITHHELD}` });
      assert.deepEqual(await check(['d:/srv/app -> r:\\.pem$ -> r:^M']), { status: 'pass', evidence: `/srv/app/key.pem:2: ${WITHHELD}` });
    });

    it('redacts password hashes and tokens in other files', async () => {
      assert.deepEqual(await check(['f:/srv/backup/shadow.bak -> r:^root:']), { status: 'pass', evidence: '/srv/backup/shadow.bak:1: root:$6$[redacted]:19800:0:99999:7:::' });
      assert.deepEqual(await check(['f:/srv/app/.env -> r:^API_TOKEN=']), { status: 'pass', evidence: '/srv/app/.env:1: API_TOKEN=[redacted 40 chars]' });
      assert.deepEqual(await check(['f:/etc/ssh/sshd_config -> r:^PermitRootLogin']), { status: 'pass', evidence: '/etc/ssh/sshd_config:1: PermitRootLogin yes' });
    });
  });

  describe('regular files only', () => {
    it('refuses a FIFO promptly, without waiting for a writer', async (t) => {
      if (noFifo !== undefined) {
        console.log(`# skipped: ${noFifo}`);
        t.skip(noFifo);
        return;
      }
      const started = Date.now();
      assert.deepEqual(await check(['f:/srv/fifo -> r:x']), { status: 'not_applicable', evidence: '/srv/fifo: not a regular file' });
      assert.deepEqual(await check(["{ config: /srv/fifo, key: x, absent: true }"]), { status: 'not_applicable', evidence: '/srv/fifo: not a regular file' });
      assert.ok(Date.now() - started < 5_000, 'the FIFO was not waited on');
    });

    it('refuses a socket, and reads /proc files but never /proc/kmsg or a process environment', async () => {
      assert.deepEqual(await check(['f:/srv/socket -> r:x']), { status: 'not_applicable', evidence: '/srv/socket: not a regular file' });
      assert.deepEqual(await check(['f:/proc/kmsg -> r:Linux']), { status: 'not_applicable', evidence: '/proc/kmsg: not readable by audits (reading it consumes kernel messages)' });
      assert.deepEqual(await check(['f:/proc/self/environ -> r:SECRET']), {
        status: 'not_applicable',
        evidence: "/proc/self/environ: not readable by audits (a process's memory or environment)",
      });
      // Its existence is no secret.
      assert.deepEqual(await check(['f:/proc/kmsg']), { status: 'pass', evidence: '/proc/kmsg exists' });
    });

    it('refuses a character device without opening it', { skip: process.platform !== 'linux' && 'needs /dev/null' }, async () => {
      const live = createRootedHost('/');
      assert.deepEqual(await check(['f:/dev/null -> r:x'], { on: live }), { status: 'not_applicable', evidence: '/dev/null: not a regular file' });
      // Files under /proc report size 0 and are still read.
      assert.equal((await check(['f:/proc/self/status -> r:^Name:'], { on: live })).status, 'pass');
    });
  });
});
