import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { LocalBackend } from './backend/local.js';
import { fileAad, newRepositoryKeys, seal } from './crypto.js';
import { isStale, listLocks, LOCK_STALE_MS, processSpace, RepositoryLock, removeLocks, type LockInfo } from './lock.js';

const keys = newRepositoryKeys();
const key = keys.encryption;

let root: string;
let backend: LocalBackend;
let count = 0;

async function lockNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const file of backend.list('locks')) names.push(file.name);
  return names.sort();
}

/** Writes a lock by hand, as another process (or another host) would have. */
async function writeLock(info: Partial<LockInfo>): Promise<string> {
  const full: LockInfo = { v: 1, time: new Date().toISOString(), exclusive: false, host: hostname(), pid: process.pid, user: 'someone', ...processSpace(), ...info };
  const name = randomBytes(32).toString('hex');
  await backend.write('locks', name, seal(key, Buffer.from(JSON.stringify(full)), fileAad('lock', name)));
  return name;
}

/** The pid of a process that has exited (and was reaped), so no process has it now. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  assert.equal(child.status, 0);
  assert.ok(child.pid > 0);
  return child.pid;
}

describe('repository locks', () => {
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'bulwark-lock-'));
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  beforeEach(async () => {
    backend = new LocalBackend(join(root, `repo-${++count}`));
    await backend.create();
  });

  it('two shared locks coexist, each its own file; release removes each', async () => {
    const a = await RepositoryLock.acquire(backend, key, false);
    const b = await RepositoryLock.acquire(backend, key, false);
    assert.equal((await lockNames()).length, 2);
    const listed = await listLocks(backend, key);
    for (const lock of listed) {
      assert.ok(lock.info);
      assert.equal(lock.info.exclusive, false);
      assert.equal(lock.info.pid, process.pid);
      assert.equal(lock.info.host, hostname());
      assert.equal(lock.stale, false);
    }
    await a.release();
    assert.equal((await lockNames()).length, 1);
    await b.release();
    assert.deepEqual(await lockNames(), []);
  });

  it('an exclusive lock is refused while a shared lock is held and a shared one while an exclusive is held, naming pid and host, leaving no file behind', async () => {
    const shared = await RepositoryLock.acquire(backend, key, false);
    const before = await lockNames();
    await assert.rejects(RepositoryLock.acquire(backend, key, true), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'REPOSITORY_LOCKED');
      assert.match(err.message, new RegExp(`a shared lock of pid ${process.pid} on "${hostname()}"`));
      assert.match(err.message, /bulwark backup unlock/);
      return true;
    });
    assert.deepEqual(await lockNames(), before);
    await shared.release();
    const exclusive = await RepositoryLock.acquire(backend, key, true);
    assert.equal(exclusive.exclusive, true);
    const held = await lockNames();
    await assert.rejects(RepositoryLock.acquire(backend, key, false), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'REPOSITORY_LOCKED');
      assert.match(err.message, new RegExp(`an exclusive lock of pid ${process.pid} on "${hostname()}"`));
      return true;
    });
    assert.deepEqual(await lockNames(), held);
    await exclusive.release();
    assert.deepEqual(await lockNames(), []);
  });

  it('a shared lock (and another exclusive one) is refused while an exclusive lock is held, leaving no file behind', async () => {
    const other = await writeLock({ exclusive: true, host: 'db-7', pid: 4242 });
    for (const exclusive of [false, true]) {
      await assert.rejects(RepositoryLock.acquire(backend, key, exclusive), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'REPOSITORY_LOCKED');
        assert.match(err.message, /an exclusive lock of pid 4242 on "db-7"/);
        return true;
      });
      assert.deepEqual(await lockNames(), [other]);
    }
  });

  it('a lock that cannot be read blocks (it could be anything) and is never taken for stale', async () => {
    const name = randomBytes(32).toString('hex');
    await backend.write('locks', name, seal(randomBytes(32), Buffer.from('{}'), fileAad('lock', name)));
    const listed = await listLocks(backend, key);
    assert.deepEqual(listed, [{ name, info: undefined, stale: false }]);
    // Once the storage says it is older than 30 minutes, an unreadable lock is stale like any other.
    const later = await listLocks(backend, key, Date.now() + LOCK_STALE_MS + 1000);
    assert.equal(later[0]?.stale, true);
    await assert.rejects(RepositoryLock.acquire(backend, key, false), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'REPOSITORY_LOCKED');
      assert.match(err.message, new RegExp(`an unreadable lock ${name.slice(0, 12)}`));
      return true;
    });
    assert.deepEqual(await removeLocks(backend, key, false), []);
    assert.deepEqual(await lockNames(), [name]);
  });

  it('a lock of a process that no longer exists on this host is stale and does not block', async () => {
    const pid = deadPid();
    const stale = await writeLock({ exclusive: true, pid });
    const [listed] = await listLocks(backend, key);
    assert.equal(listed?.name, stale);
    assert.equal(listed?.stale, true);
    const lock = await RepositoryLock.acquire(backend, key, true);
    assert.equal((await lockNames()).length, 2);
    await lock.release();
    assert.deepEqual(await lockNames(), [stale]);
  });

  it('a dead pid on another host is not stale: that pid may live there', async () => {
    await writeLock({ exclusive: true, host: `not-${hostname()}`, pid: deadPid() });
    assert.equal((await listLocks(backend, key))[0]?.stale, false);
    await assert.rejects(RepositoryLock.acquire(backend, key, false), { code: 'REPOSITORY_LOCKED' });
  });

  it('a lock older than 30 minutes is stale even when its process lives, and does not block', async () => {
    const old = new Date(Date.now() - LOCK_STALE_MS - 60_000).toISOString();
    await writeLock({ exclusive: true, time: old });
    await writeLock({ exclusive: true, time: old, host: 'db-9', pid: 1 });
    assert.deepEqual(
      (await listLocks(backend, key)).map((l) => l.stale),
      [true, true],
    );
    const lock = await RepositoryLock.acquire(backend, key, true);
    await lock.release();
  });

  it('isStale: by age (30 minutes) and by a missing process on this host only', () => {
    const now = Date.parse('2026-11-25T10:30:00.000Z');
    const info: LockInfo = { v: 1, time: '2026-11-25T10:00:00.001Z', exclusive: false, host: 'h1', pid: process.pid, user: 'u', ...processSpace() };
    assert.equal(isStale(info, now, 'h1'), false);
    assert.equal(isStale({ ...info, time: '2026-11-25T10:00:00.000Z' }, now, 'h1'), true);
    assert.equal(isStale({ ...info, time: 'not a time' }, now, 'h1'), true);
    const dead = deadPid();
    assert.equal(isStale({ ...info, pid: dead }, now, 'h1'), true);
    assert.equal(isStale({ ...info, pid: dead }, now, 'h2'), false);
    // Another boot, or another pid namespace (a container sharing the host name): that pid is not known dead.
    assert.equal(isStale({ ...info, pid: dead, boot: 'another-boot' }, now, 'h1'), false);
    assert.equal(isStale({ ...info, pid: dead, pidns: 'pid:[1]' }, now, 'h1'), false);
    assert.equal(isStale({ ...info, pid: dead, boot: undefined }, now, 'h1'), false);
  });

  it('removeLocks removes only stale locks, unless told to remove all', async () => {
    const held = await RepositoryLock.acquire(backend, key, false);
    const fresh = await writeLock({ host: 'db-2', pid: 7 });
    const deadHere = await writeLock({ pid: deadPid() });
    const old = await writeLock({ host: 'db-3', time: new Date(Date.now() - LOCK_STALE_MS - 1000).toISOString() });
    const removed = await removeLocks(backend, key, false);
    assert.deepEqual(removed.map((l) => l.name).sort(), [deadHere, old].sort());
    const left = await lockNames();
    assert.equal(left.length, 2);
    assert.ok(left.includes(fresh));
    const all = await removeLocks(backend, key, true);
    assert.equal(all.length, 2);
    assert.deepEqual(await lockNames(), []);
    await held.release();
  });

  it('refresh replaces the lock file with one under a new name and a newer time; release removes it', async () => {
    const lock = await RepositoryLock.acquire(backend, key, true);
    const [first] = await listLocks(backend, key);
    assert.ok(first?.info);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await lock.refresh();
    const after = await listLocks(backend, key);
    assert.equal(after.length, 1);
    const [second] = after;
    assert.ok(second?.info);
    assert.notEqual(second.name, first.name);
    assert.equal(second.info.exclusive, true);
    assert.ok(Date.parse(second.info.time) > Date.parse(first.info.time));
    await lock.release();
    assert.deepEqual(await lockNames(), []);
    // Released is final: neither a refresh nor a second release writes or fails.
    await lock.refresh();
    await lock.release();
    assert.deepEqual(await lockNames(), []);
  });

  it('assertHeld passes while the lock is in place and refuses once it was removed behind the holder', async () => {
    const lock = await RepositoryLock.acquire(backend, key, false);
    await lock.assertHeld();
    await removeLocks(backend, key, true);
    await lock.refresh();
    await assert.rejects(lock.assertHeld(), (err: Error & { code?: string }) => err.code === 'REPOSITORY_LOCKED' && /lost its repository lock/.test(err.message));
    await lock.release();
  });
});
