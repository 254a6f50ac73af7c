import { readFileSync, readlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { BulwarkError } from '../core/errors.js';
import type { Backend } from './backend/backend.js';
import { fileAad, open, seal } from './crypto.js';
import { ISO_TIME } from './snapshot.js';

/**
 * Repository locks. Backups, restores and checks take shared locks (they only
 * add files, or read); prune takes an exclusive lock (it removes files another
 * process may be about to reference). A lock is a sealed file in `locks/`,
 * refreshed every 5 minutes under a new name. It is stale when it has not been
 * refreshed for 30 minutes, or when it was taken on this host by a process that
 * no longer exists — then `backup unlock` removes it, and a crashed backup
 * never blocks the repository for good.
 */
export interface LockInfo {
  v: 1;
  time: string;
  exclusive: boolean;
  host: string;
  pid: number;
  user: string;
  /** Kernel boot id and pid namespace: a pid is only known dead on the same boot in the same namespace. */
  boot?: string;
  pidns?: string;
}

export const LOCK_REFRESH_MS = 5 * 60_000;
export const LOCK_STALE_MS = 30 * 60_000;

export interface ListedLock {
  name: string;
  info: LockInfo | undefined;
  stale: boolean;
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return fallback;
  }
}

function linkOr(path: string, fallback: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return fallback;
  }
}

let here: { boot: string; pidns: string } | undefined;

/** This process's boot id and pid namespace, as its locks record them. */
export function processSpace(): { boot: string; pidns: string } {
  here ??= { boot: readOr('/proc/sys/kernel/random/boot_id', ''), pidns: linkOr('/proc/self/ns/pid', '') };
  return { ...here };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Stale: not refreshed for 30 minutes, or taken by a process that is gone — which
 * is only known for a process of this host, this boot and this pid namespace (a
 * container sharing the host name has its own pids).
 */
export function isStale(info: LockInfo, now: number, host = hostname()): boolean {
  const age = now - Date.parse(info.time);
  if (!(age < LOCK_STALE_MS)) return true;
  const space = processSpace();
  const sameSpace = info.host === host && info.boot !== undefined && info.boot === space.boot && info.boot !== '' && info.pidns === space.pidns;
  return sameSpace && !processAlive(info.pid);
}

export async function listLocks(backend: Backend, key: Uint8Array, now = Date.now()): Promise<ListedLock[]> {
  const out: ListedLock[] = [];
  for await (const file of backend.list('locks')) {
    let info: LockInfo | undefined;
    // A lock no key opens is stale once the storage says it is old: junk must not block a repository for ever.
    const unreadableStale = file.modified !== undefined && now - file.modified > LOCK_STALE_MS;
    try {
      const parsed = JSON.parse(open(key, await backend.read('locks', file.name), fileAad('lock', file.name), `lock ${file.name}`).toString('utf8')) as LockInfo;
      if (parsed.v === 1 && typeof parsed.time === 'string' && ISO_TIME.test(parsed.time) && Number.isSafeInteger(parsed.pid) && typeof parsed.host === 'string' && typeof parsed.user === 'string') info = parsed;
    } catch (err) {
      // A lock removed while listing is simply gone.
      if ((err as BulwarkError).code === 'NOT_FOUND') continue;
    }
    out.push({ name: file.name, info, stale: info === undefined ? unreadableStale : isStale(info, now) });
  }
  return out;
}

export class RepositoryLock {
  #name: string;
  #timer: NodeJS.Timeout | undefined;
  #released = false;
  /** When the lock file was last written with a fresh time. */
  #refreshedAt = Date.now();
  /** Set when the lock file vanished (someone ran unlock --all, or prune took it for stale). */
  #lost = false;

  private constructor(
    private readonly backend: Backend,
    private readonly key: Uint8Array,
    readonly exclusive: boolean,
    name: string,
  ) {
    this.#name = name;
  }

  static async acquire(backend: Backend, key: Uint8Array, exclusive: boolean): Promise<RepositoryLock> {
    const name = await writeLock(backend, key, exclusive);
    const lock = new RepositoryLock(backend, key, exclusive, name);
    const others = (await listLocks(backend, key)).filter((l) => l.name !== name && !l.stale);
    const blocking = others.filter((l) => exclusive || l.info === undefined || l.info.exclusive);
    if (blocking.length > 0) {
      await backend.remove('locks', name);
      const who = blocking.map((l) => (l.info ? `${l.info.exclusive ? 'an exclusive' : 'a shared'} lock of pid ${l.info.pid} on ${JSON.stringify(l.info.host.slice(0, 64))} since ${l.info.time}` : `an unreadable lock ${l.name.slice(0, 12)}`)).join('; ');
      throw new BulwarkError('REPOSITORY_LOCKED', `the repository is locked: ${who}; wait for it to finish, or run "bulwark backup unlock" if that process is gone`);
    }
    lock.#timer = setInterval(() => void lock.refresh().catch(() => undefined), LOCK_REFRESH_MS);
    lock.#timer.unref();
    return lock;
  }

  /** Rewrites the lock under a new name with a fresh time, then removes the old one. */
  async refresh(): Promise<void> {
    if (this.#released) return;
    const old = this.#name;
    if ((await this.backend.stat('locks', old)) === undefined) this.#lost = true;
    const fresh = await writeLock(this.backend, this.key, this.exclusive);
    this.#name = fresh;
    this.#refreshedAt = Date.now();
    await this.backend.remove('locks', old);
  }

  /**
   * Throws unless the lock has held without a gap: refreshed within the last 25
   * minutes (before anyone may take it for stale) and never removed. A backup
   * checks this before it writes its index and snapshot: a prune that took its
   * lock for stale may have removed the packs it wrote, and a snapshot naming
   * them must not be written.
   */
  async assertHeld(): Promise<void> {
    if (!this.#lost && Date.now() - this.#refreshedAt > LOCK_STALE_MS - 5 * 60_000) await this.refresh().catch(() => undefined);
    if (this.#lost || Date.now() - this.#refreshedAt > LOCK_STALE_MS - 5 * 60_000) {
      throw new BulwarkError('REPOSITORY_LOCKED', 'this process lost its repository lock (not refreshed in time, or removed), so another process may have pruned data it wrote; nothing was saved; run it again');
    }
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.backend.remove('locks', this.#name);
  }
}

async function writeLock(backend: Backend, key: Uint8Array, exclusive: boolean): Promise<string> {
  const info: LockInfo = { v: 1, time: new Date().toISOString(), exclusive, host: hostname(), pid: process.pid, user: safeUser(), ...processSpace() };
  const name = randomBytes(32).toString('hex');
  await backend.write('locks', name, seal(key, Buffer.from(JSON.stringify(info)), fileAad('lock', name)), { exclusive: true });
  return name;
}

export function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? '');
  }
}

/** Removes stale locks (or every lock with `all`); returns the names removed. */
export async function removeLocks(backend: Backend, key: Uint8Array, all: boolean): Promise<ListedLock[]> {
  const removed: ListedLock[] = [];
  for (const lock of await listLocks(backend, key)) {
    if (!all && !lock.stale) continue;
    await backend.remove('locks', lock.name);
    removed.push(lock);
  }
  return removed;
}
