import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { link, lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId } from '../core/ids.js';
import { silentLogger } from '../core/logger.js';
import type { ManifestItem, StatusItem } from '../protocol/secret-delivery.js';
import { DEFAULT_SECRETS_POLICY, SECRETS_STATE_FILE, SecretDeliveryRunner, destinationRefusal, resolveAccount, type SecretMessage, type SecretsPolicy } from './secret-delivery.js';

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** A runner wired to a fake server that answers fetches from `values` (`deliveryId@version` → value). */
class Fixture {
  readonly values = new Map<string, Buffer>();
  readonly sent: SecretMessage[] = [];
  /** Fetches the fake server refuses, by delivery id → error code. */
  readonly refuse = new Map<string, string>();
  runner: SecretDeliveryRunner;

  constructor(
    readonly root: string,
    readonly dataDir: string,
    policy: SecretsPolicy = { allowDirs: ['/srv'] },
    opts: { retryMs?: number } = {},
  ) {
    this.runner = this.make(policy, opts);
  }

  make(policy: SecretsPolicy, opts: { retryMs?: number } = {}): SecretDeliveryRunner {
    const runner = new SecretDeliveryRunner({ root: this.root, dataDir: this.dataDir, policy, log: silentLogger, fetchTimeoutMs: 2_000, ...opts });
    runner.connected((m) => {
      this.sent.push(m);
      if (m.type !== 'secret_fetch') return;
      setImmediate(() => {
        const code = this.refuse.get(m.deliveryId);
        const value = this.values.get(`${m.deliveryId}@${m.version}`);
        if (code !== undefined || !value) runner.onError(m.requestId, code ?? 'CONFLICT', 'refused by the test server');
        else runner.onValue({ type: 'secret_value', requestId: m.requestId, deliveryId: m.deliveryId, version: m.version, value: value.toString('base64') });
      });
    });
    this.runner = runner;
    return runner;
  }

  item(dest: string, value: string, opts: { id?: string; version?: number; mode?: number; owner?: string; group?: string } = {}): ManifestItem {
    const id = opts.id ?? newId('sdl');
    const version = opts.version ?? 1;
    this.values.set(`${id}@${version}`, Buffer.from(value));
    return {
      deliveryId: id,
      path: 'app/secret',
      version,
      dest,
      mode: opts.mode ?? 0o400,
      ...(opts.owner === undefined ? {} : { owner: opts.owner }),
      ...(opts.group === undefined ? {} : { group: opts.group }),
      sha256: sha(value),
    };
  }

  fetches(): number {
    return this.sent.filter((m) => m.type === 'secret_fetch').length;
  }

  /** Every status item reported so far, the latest per delivery. */
  statuses(): Map<string, StatusItem> {
    const out = new Map<string, StatusItem>();
    for (const m of this.sent) if (m.type === 'secret_status') for (const i of m.items) out.set(i.deliveryId, i);
    return out;
  }

  path(dest: string): string {
    return join(this.root, dest);
  }

  async state(): Promise<{ held: Record<string, { dest: string; version: number; sha256: string }> }> {
    return JSON.parse(await readFile(join(this.dataDir, SECRETS_STATE_FILE), 'utf8')) as { held: Record<string, { dest: string; version: number; sha256: string }> };
  }
}

const dirs: string[] = [];
async function fixture(policy?: SecretsPolicy, opts?: { retryMs?: number }): Promise<Fixture> {
  const root = await mkdtemp(join(tmpdir(), 'bulwark-secrets-root-'));
  const dataDir = await mkdtemp(join(tmpdir(), 'bulwark-secrets-data-'));
  dirs.push(root, dataDir);
  return new Fixture(root, dataDir, policy, opts);
}

after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('destinationRefusal', () => {
  const refused = (dest: string, policy: SecretsPolicy = DEFAULT_SECRETS_POLICY): string | undefined => destinationRefusal(dest, policy);

  it('refuses paths that are not absolute and normalised', () => {
    for (const dest of ['etc/app/x', '/etc/../etc/shadow', '/etc//x', '/etc/./x', '/etc/app/', '/', '/a\0b']) {
      assert.ok(refused(dest), `${JSON.stringify(dest)} is refused`);
    }
  });

  it('refuses protected system locations by default', () => {
    for (const dest of [
      '/etc/passwd',
      '/etc/shadow',
      '/etc/group',
      '/etc/gshadow',
      '/etc/sudoers',
      '/etc/sudoers.d/app',
      '/etc/cron.d/job',
      '/etc/crontab',
      '/etc/cron.daily/x',
      '/var/spool/cron/crontabs/root',
      '/etc/systemd/system/x.service',
      '/lib/systemd/system/x.service',
      '/lib64/ld-linux-x86-64.so.2',
      '/usr/local/bin/x',
      '/bin/sh',
      '/sbin/init',
      '/boot/grub/grub.cfg',
      '/proc/sys/kernel/x',
      '/sys/x',
      '/dev/sda',
      '/etc/ld.so.preload',
      '/etc/ld.so.conf.d/x.conf',
      '/etc/profile',
      '/etc/profile.d/x.sh',
      '/etc/pam.d/sshd',
      '/etc/ssh/sshd_config',
      '/home/deploy/.ssh/authorized_keys',
      '/srv/.ssh',
      '/root/secret',
      '/etc/tmpfiles.d/x.conf',
      '/usr/lib/tmpfiles.d/x.conf',
      '/etc/logrotate.d/app',
      '/etc/update-motd.d/99-x',
      '/etc/NetworkManager/dispatcher.d/99-x',
      '/etc/network/if-up.d/x',
      '/etc/bash_completion.d/x',
      '/etc/yum.repos.d/x.repo',
      '/etc/apt/sources.list.d/x.list',
      '/etc/apt/apt.conf.d/99hook',
      '/etc/sudo.conf',
      '/etc/environment',
      '/etc/security/limits.conf',
      '/etc/udev/rules.d/99-x.rules',
      '/etc/modprobe.d/x.conf',
      '/etc/modules-load.d/x.conf',
      '/etc/sysctl.d/99-x.conf',
      '/etc/init.d/x',
      '/etc/rc.d/rc.local',
      '/etc/rc3.d/S99x',
      '/etc/xdg/autostart/x.desktop',
      '/var/spool/at/x',
      '/var/lib/dpkg/info/x.postinst',
    ]) {
      assert.match(refused(dest) ?? '', /protected system location/, dest);
    }
  });

  it('allows ordinary destinations by default', () => {
    for (const dest of ['/etc/app/db-password', '/srv/app/key', '/opt/app/.env', '/etc/libvirt-app/x', '/home/app/secret', '/var/lib/app/token']) {
      assert.equal(refused(dest), undefined, dest);
    }
  });

  it('with allow_dirs, allows only below those directories, protected ones included', () => {
    const policy = { allowDirs: ['/etc/ssh', '/srv/app'] };
    assert.equal(refused('/etc/ssh/ssh_host_ed25519_key', policy), undefined);
    assert.equal(refused('/srv/app/x/y', policy), undefined);
    assert.match(refused('/etc/app/db-password', policy) ?? '', /outside the directories this agent allows/);
    assert.match(refused('/srv/application', policy) ?? '', /outside/, 'a prefix of a name is not a directory');
    assert.match(refused('/srv/app', policy) ?? '', /outside/, 'the directory itself is not a file in it');
    assert.match(refused('/etc/shadow', policy) ?? '', /outside/);
  });
});

describe('resolveAccount', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'bulwark-accounts-'));
    dirs.push(root);
    await mkdir(join(root, 'etc'));
    await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1001:1002::/srv/app:/usr/sbin/nologin\n');
    await writeFile(join(root, 'etc/group'), 'root:x:0:\napp:x:1002:\nssl-cert:x:115:app\n');
  });

  it('reads names from the root, with the owner’s primary group by default', async () => {
    assert.deepEqual(await resolveAccount(root, 'app', undefined), { uid: 1001, gid: 1002 });
    assert.deepEqual(await resolveAccount(root, 'app', 'ssl-cert'), { uid: 1001, gid: 115 });
    assert.deepEqual(await resolveAccount(root, undefined, 'ssl-cert'), { gid: 115 });
    assert.deepEqual(await resolveAccount(root, '4242', '4343'), { uid: 4242, gid: 4343 });
    assert.deepEqual(await resolveAccount(root, undefined, undefined), {});
  });

  it('refuses users and groups the node does not have', async () => {
    await assert.rejects(resolveAccount(root, 'nobody-here', undefined), /user "nobody-here" does not exist on this node/);
    await assert.rejects(resolveAccount(root, 'app', 'wheel'), /group "wheel" does not exist on this node/);
  });
});

describe('SecretDeliveryRunner', () => {
  it('writes a new secret atomically with its mode, creating parents 0755, and records it in the state file', async () => {
    const f = await fixture();
    const item = f.item('/srv/app/conf/db-password', 'hunter2', { mode: 0o440 });
    await f.runner.manifest([item]);
    assert.equal(await readFile(f.path(item.dest), 'utf8'), 'hunter2');
    assert.equal((await stat(f.path(item.dest))).mode & 0o7777, 0o440);
    assert.equal((await stat(f.path('/srv/app/conf'))).mode & 0o7777, 0o755);
    assert.equal((await stat(f.path('/srv/app'))).mode & 0o7777, 0o755);
    assert.deepEqual(await readdir(f.path('/srv/app/conf')), ['db-password'], 'no temp file is left behind');
    assert.deepEqual(f.statuses().get(item.deliveryId), { deliveryId: item.deliveryId, version: 1, state: 'delivered' });
    const state = await f.state();
    assert.equal(state.held[item.deliveryId]?.dest, item.dest);
    assert.equal(state.held[item.deliveryId]?.sha256, sha('hunter2'));
    assert.equal((await stat(join(f.dataDir, SECRETS_STATE_FILE))).mode & 0o777, 0o600);
    assert.ok(!JSON.stringify(state).includes('hunter2'), 'the state file never holds a value');
  });

  it('the mode is exact whatever the umask', async () => {
    const f = await fixture();
    const previous = process.umask(0o077);
    try {
      const item = f.item('/srv/app/shared', 'v', { mode: 0o644 });
      await f.runner.manifest([item]);
      assert.equal((await stat(f.path(item.dest))).mode & 0o7777, 0o644);
    } finally {
      process.umask(previous);
    }
  });

  it('does nothing for a manifest it already holds, and replaces the file (never writes into it) for a new version', async () => {
    const f = await fixture();
    const first = f.item('/srv/app/token', 'one');
    await f.runner.manifest([first]);
    assert.equal(f.fetches(), 1);
    await f.runner.manifest([first]);
    assert.equal(f.fetches(), 1, 'an unchanged file is not fetched again');
    assert.equal(f.sent.filter((m) => m.type === 'secret_status').length, 1, 'an unchanged state is not reported again');

    // A second name for the old file: a write in place would change what it shows.
    await link(f.path(first.dest), f.path('/srv/app/old-link'));
    const second = f.item(first.dest, 'two', { id: first.deliveryId, version: 2 });
    await f.runner.manifest([second]);
    assert.equal(await readFile(f.path(first.dest), 'utf8'), 'two');
    assert.equal(await readFile(f.path('/srv/app/old-link'), 'utf8'), 'one', 'the new version is a new file renamed into place');
    assert.deepEqual(f.statuses().get(first.deliveryId), { deliveryId: first.deliveryId, version: 2, state: 'delivered' });
    assert.equal((await f.state()).held[first.deliveryId]?.version, 2);
  });

  it('rewrites its own file when it was changed or lost on the node', async () => {
    const f = await fixture();
    const item = f.item('/srv/app/token', 'right');
    await f.runner.manifest([item]);
    await writeFile(f.path(item.dest), 'tampered');
    await f.runner.manifest([item]);
    assert.equal(await readFile(f.path(item.dest), 'utf8'), 'right');
    await rm(f.path(item.dest));
    await f.runner.manifest([item]);
    assert.equal(await readFile(f.path(item.dest), 'utf8'), 'right');
  });

  it('removes the file of a delivery that left the manifest, and forgets it', async () => {
    const f = await fixture();
    const keep = f.item('/srv/app/keep', 'k');
    const gone = f.item('/srv/app/gone', 'g');
    await f.runner.manifest([keep, gone]);
    await f.runner.manifest([keep]);
    await assert.rejects(lstat(f.path(gone.dest)), { code: 'ENOENT' });
    assert.equal(await readFile(f.path(keep.dest), 'utf8'), 'k');
    assert.deepEqual(f.statuses().get(gone.deliveryId), { deliveryId: gone.deliveryId, version: 1, state: 'removed' });
    assert.equal((await f.state()).held[gone.deliveryId], undefined);
  });

  it('leaves a file changed on the node in place when its delivery goes, and says so', async () => {
    const f = await fixture();
    const item = f.item('/srv/app/edited', 'original');
    await f.runner.manifest([item]);
    await writeFile(f.path(item.dest), 'edited by hand');
    await f.runner.manifest([]);
    assert.equal(await readFile(f.path(item.dest), 'utf8'), 'edited by hand');
    const status = f.statuses().get(item.deliveryId);
    assert.equal(status?.state, 'error');
    assert.match(status?.error ?? '', /changed on the node since the agent wrote it; left in place/);
    assert.equal((await f.state()).held[item.deliveryId], undefined);
  });

  it('never overwrites a file it did not write', async () => {
    const f = await fixture();
    await mkdir(f.path('/srv/app'), { recursive: true });
    await writeFile(f.path('/srv/app/config'), 'the admin wrote this');
    const item = f.item('/srv/app/config', 'secret');
    await f.runner.manifest([item]);
    assert.equal(await readFile(f.path('/srv/app/config'), 'utf8'), 'the admin wrote this');
    assert.equal(f.fetches(), 0, 'a refused destination is not even fetched');
    const status = f.statuses().get(item.deliveryId);
    assert.equal(status?.state, 'error');
    assert.match(status?.error ?? '', /already exists and was not written by this agent/);
  });

  it('refuses symbolic links anywhere in the destination, and writes nothing through them', async () => {
    const f = await fixture();
    const elsewhere = await mkdtemp(join(tmpdir(), 'bulwark-secrets-elsewhere-'));
    dirs.push(elsewhere);
    await mkdir(f.path('/srv'), { recursive: true });
    await symlink(elsewhere, f.path('/srv/linked'));
    await mkdir(f.path('/srv/real'));
    await writeFile(join(elsewhere, 'target'), 'untouched');
    await symlink(join(elsewhere, 'target'), f.path('/srv/real/file'));
    const viaDir = f.item('/srv/linked/secret', 'x');
    const viaFile = f.item('/srv/real/file', 'y');
    await f.runner.manifest([viaDir, viaFile]);
    assert.deepEqual(await readdir(elsewhere), ['target']);
    assert.equal(await readFile(join(elsewhere, 'target'), 'utf8'), 'untouched');
    assert.match(f.statuses().get(viaDir.deliveryId)?.error ?? '', /\/srv\/linked is a symbolic link/);
    assert.match(f.statuses().get(viaFile.deliveryId)?.error ?? '', /\/srv\/real\/file is a symbolic link/);
  });

  it('refuses a directory anyone but root or the agent may change (group-writable, world-writable even sticky, owned by another user)', async () => {
    const f = await fixture();
    const { chmod, chown } = await import('node:fs/promises');
    const cases: [string, (dir: string) => Promise<void>, RegExp][] = [
      ['/srv/open', (dir) => chmod(dir, 0o777), /\/srv\/open is writable by everyone \(mode 0777\)/],
      ['/srv/sticky', (dir) => chmod(dir, 0o1777), /\/srv\/sticky is writable by everyone \(mode 1777\)/],
      ['/srv/team', (dir) => chmod(dir, 0o775), /\/srv\/team is writable by its group \(mode 0775\)/],
    ];
    if (process.getuid?.() === 0) cases.push(['/srv/theirs', (dir) => chown(dir, 4242, 4242), /\/srv\/theirs is owned by uid 4242, neither root nor the agent/]);
    else console.log('# not running as root: a directory owned by another user is not checked');
    for (const [dir, spoil, reason] of cases) {
      await mkdir(f.path(`${dir}/deep`), { recursive: true });
      await spoil(f.path(dir));
      // Below the spoiled directory too: every directory from the root down counts.
      for (const dest of [`${dir}/secret`, `${dir}/deep/secret`]) {
        const item = f.item(dest, 'x');
        await f.runner.manifest([item]);
        assert.match(f.statuses().get(item.deliveryId)?.error ?? '', reason, dest);
        await assert.rejects(lstat(f.path(item.dest)), { code: 'ENOENT' });
      }
    }
    assert.equal(f.fetches(), 0, 'a refused destination is not even fetched');
  });

  it('leaves its file in place when a directory above it became writable by others, and says so', async () => {
    const f = await fixture();
    const item = f.item('/srv/app/left', 'l');
    await f.runner.manifest([item]);
    const { chmod } = await import('node:fs/promises');
    await chmod(f.path('/srv/app'), 0o775);
    await f.runner.manifest([]);
    assert.equal(await readFile(f.path(item.dest), 'utf8'), 'l');
    const status = f.statuses().get(item.deliveryId);
    assert.equal(status?.state, 'error');
    assert.match(status?.error ?? '', /\/srv\/app is writable by its group/);
  });

  it('refuses destinations outside its policy and its own data directory, with a clear error', async () => {
    const f = await fixture({ allowDirs: ['/srv'] });
    const outside = f.item('/etc/app/db-password', 'x');
    await f.runner.manifest([outside]);
    assert.match(f.statuses().get(outside.deliveryId)?.error ?? '', /outside the directories this agent allows secrets in \(secrets\.allow_dirs: \/srv\)/);
    await assert.rejects(lstat(f.path(outside.dest)), { code: 'ENOENT' });

    // On the real root, the data directory is refused even when an allowed directory holds it.
    const live = new Fixture('/', f.dataDir, { allowDirs: [tmpdir()] });
    const inData = live.item(join(f.dataDir, 'node.key'), 'x');
    await live.runner.manifest([inData]);
    assert.match(live.statuses().get(inData.deliveryId)?.error ?? '', /inside the agent's own data directory/);
    await assert.rejects(lstat(join(f.dataDir, 'node.key')), { code: 'ENOENT' });
  });

  it('refuses two deliveries of one file in a manifest', async () => {
    const f = await fixture();
    const a = f.item('/srv/app/same', 'a');
    const b = f.item('/srv/app/same', 'b');
    await f.runner.manifest([a, b]);
    assert.equal(await readFile(f.path('/srv/app/same'), 'utf8'), 'a');
    assert.match(f.statuses().get(b.deliveryId)?.error ?? '', /already writes \/srv\/app\/same/);
  });

  it('reports a refused fetch or a value that does not match the manifest, and retries later', async () => {
    const f = await fixture(undefined, { retryMs: 50 });
    const refused = f.item('/srv/app/refused', 'r');
    const wrong = f.item('/srv/app/wrong', 'w');
    f.values.set(`${wrong.deliveryId}@1`, Buffer.from('not what the manifest says'));
    f.refuse.set(refused.deliveryId, 'FORBIDDEN');
    await f.runner.manifest([refused, wrong]);
    assert.match(f.statuses().get(refused.deliveryId)?.error ?? '', /the server refused: FORBIDDEN/);
    assert.match(f.statuses().get(wrong.deliveryId)?.error ?? '', /does not match the manifest/);
    await assert.rejects(lstat(f.path(wrong.dest)), { code: 'ENOENT' });
    // The server lets it through now: the retry delivers without a new manifest.
    f.refuse.delete(refused.deliveryId);
    f.values.set(`${wrong.deliveryId}@1`, Buffer.from('w'));
    const deadline = Date.now() + 5_000;
    while (f.statuses().get(wrong.deliveryId)?.state !== 'delivered' || f.statuses().get(refused.deliveryId)?.state !== 'delivered') {
      assert.ok(Date.now() < deadline, 'the retry delivered both');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await readFile(f.path(refused.dest), 'utf8'), 'r');
    f.runner.stop();
  });

  it('gives the file its owner and group from the root’s account files', async () => {
    const f = await fixture();
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    await mkdir(f.path('/etc'), { recursive: true });
    // A user that is the agent itself: fchown to oneself works without root.
    await writeFile(f.path('/etc/passwd'), `me:x:${uid}:${gid}::/:/bin/sh\n`);
    await writeFile(f.path('/etc/group'), `mine:x:${gid}:\n`);
    const item = f.item('/srv/app/owned', 'o', { owner: 'me', group: 'mine', mode: 0o640 });
    await f.runner.manifest([item]);
    const s = await stat(f.path(item.dest));
    assert.equal(s.uid, uid);
    assert.equal(s.gid, gid);
    assert.equal(s.mode & 0o7777, 0o640);

    const unknown = f.item('/srv/app/unowned', 'u', { owner: 'ghost' });
    await f.runner.manifest([item, unknown]);
    assert.match(f.statuses().get(unknown.deliveryId)?.error ?? '', /user "ghost" does not exist on this node/);
  });

  it('remembers what it wrote across restarts, including a write a crash interrupted', async () => {
    const f = await fixture();
    const item = f.item('/srv/app/kept', 'v1');
    await f.runner.manifest([item]);
    const before = f.fetches();
    f.make({ allowDirs: ['/srv'] });
    await f.runner.manifest([item]);
    assert.equal(f.fetches(), before, 'a restarted agent does not fetch what it already holds');

    // A crash between recording version 2 and renaming it into place leaves version 1 on disk.
    const state = await f.state();
    const held = state.held[item.deliveryId];
    assert.ok(held);
    state.held[item.deliveryId] = { ...held, version: 2, sha256: sha('v2'), prior: [sha('v1')] } as typeof held;
    await writeFile(join(f.dataDir, SECRETS_STATE_FILE), JSON.stringify(state));
    f.make({ allowDirs: ['/srv'] });
    await f.runner.manifest([]);
    await assert.rejects(lstat(f.path(item.dest)), { code: 'ENOENT' });
    assert.equal(f.statuses().get(item.deliveryId)?.state, 'removed');
  });

  it('a removal done while the connection dropped is reported on the next one', async () => {
    const f = await fixture();
    const gone = f.item('/srv/app/going', 'g');
    await f.runner.manifest([gone]);
    const slow = f.item('/srv/app/slow', 's');
    f.values.delete(`${slow.deliveryId}@1`);
    // This server never answers the fetch: the connection drops while the manifest is applied.
    const silent: SecretMessage[] = [];
    f.runner.connected((m) => silent.push(m));
    const applying = f.runner.manifest([slow]);
    await (async () => {
      while (!silent.some((m) => m.type === 'secret_fetch')) await new Promise((r) => setTimeout(r, 5));
    })();
    f.runner.disconnected();
    await applying;
    await assert.rejects(lstat(f.path(gone.dest)), { code: 'ENOENT' });
    assert.ok(!silent.some((m) => m.type === 'secret_status'), 'nothing is reported across a reconnect');
    const next: SecretMessage[] = [];
    f.runner.connected((m) => next.push(m));
    await f.runner.manifest([]);
    const reported = next.flatMap((m) => (m.type === 'secret_status' ? m.items : []));
    assert.deepEqual(reported, [{ deliveryId: gone.deliveryId, version: 1, state: 'removed' }]);
  });

  it('a new connection reports every state again', async () => {
    const f = await fixture();
    const item = f.item('/srv/app/again', 'a');
    await f.runner.manifest([item]);
    const reports = (): number => f.sent.filter((m) => m.type === 'secret_status').length;
    assert.equal(reports(), 1);
    f.runner.disconnected();
    f.runner.connected((m) => f.sent.push(m));
    await f.runner.manifest([item]);
    assert.equal(reports(), 2);
  });
});
