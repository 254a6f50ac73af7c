import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { BulwarkError } from '../core/errors.js';
import type { Backend } from './backend/backend.js';
import { fileAad, open, seal } from './crypto.js';

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
}

export const LOCK_REFRESH_MS = 5 * 60_000;
export const LOCK_STALE_MS = 30 * 60_000;

export interface ListedLock {
  name: string;
  info: LockInfo | undefined;
  stale: boolean;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function isStale(info: LockInfo, now: number, host = hostname()): boolean {
  const age = now - Date.parse(info.time);
  if (!(age < LOCK_STALE_MS)) return true;
  return info.host === host && !processAlive(info.pid);
}

export async function listLocks(backend: Backend, key: Uint8Array, now = Date.now()): Promise<ListedLock[]> {
  const out: ListedLock[] = [];
  for await (const file of backend.list('locks')) {
    let info: LockInfo | undefined;
    try {
      const parsed = JSON.parse(open(key, await backend.read('locks', file.name), fileAad('lock'), `lock ${file.name}`).toString('utf8')) as LockInfo;
      if (parsed.v === 1 && typeof parsed.time === 'string' && typeof parsed.pid === 'number' && typeof parsed.host === 'string') info = parsed;
    } catch (err) {
      // A lock removed while listing is simply gone.
      if ((err as BulwarkError).code === 'NOT_FOUND') continue;
    }
    out.push({ name: file.name, info, stale: info === undefined ? false : isStale(info, now) });
  }
  return out;
}

export class RepositoryLock {
  #name: string;
  #timer: NodeJS.Timeout | undefined;
  #released = false;

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
      const who = blocking.map((l) => (l.info ? `${l.info.exclusive ? 'an exclusive' : 'a shared'} lock of pid ${l.info.pid} on ${l.info.host} since ${l.info.time}` : `an unreadable lock ${l.name}`)).join('; ');
      throw new BulwarkError('REPOSITORY_LOCKED', `the repository is locked: ${who}; wait for it to finish, or run "bulwark backup unlock" if that process is gone`);
    }
    lock.#timer = setInterval(() => void lock.refresh().catch(() => undefined), LOCK_REFRESH_MS);
    lock.#timer.unref();
    return lock;
  }

  /** Rewrites the lock under a new name with a fresh time, then removes the old one. */
  async refresh(): Promise<void> {
    if (this.#released) return;
    const fresh = await writeLock(this.backend, this.key, this.exclusive);
    const old = this.#name;
    this.#name = fresh;
    await this.backend.remove('locks', old);
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.backend.remove('locks', this.#name);
  }
}

async function writeLock(backend: Backend, key: Uint8Array, exclusive: boolean): Promise<string> {
  const info: LockInfo = { v: 1, time: new Date().toISOString(), exclusive, host: hostname(), pid: process.pid, user: safeUser() };
  const name = randomBytes(32).toString('hex');
  await backend.write('locks', name, seal(key, Buffer.from(JSON.stringify(info)), fileAad('lock')), { exclusive: true });
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
