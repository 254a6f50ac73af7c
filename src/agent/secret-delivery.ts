import { constants } from 'node:fs';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Stats } from 'node:fs';
import { chmod, lstat, mkdir, open, readFile, realpath, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { fsyncDir, writeFileAtomic } from '../core/fs.js';
import type { Logger } from '../core/logger.js';
import { readHostFile } from '../host/host-file.js';
import {
  SECRET_DELIVERY_LIMITS,
  destinationProblem,
  type ManifestItem,
  type SecretFetch,
  type SecretStatus,
  type SecretValue,
  type StatusItem,
} from '../protocol/secret-delivery.js';

/** Where secrets may go on this node, from the agent's own configuration (`secrets.allow_dirs`). */
export interface SecretsPolicy {
  /** When not empty, the only directories (and everything below them) secrets may be written to. */
  allowDirs: string[];
}

export const DEFAULT_SECRETS_POLICY: SecretsPolicy = { allowDirs: [] };

/** What the agent wrote, in its data directory: deliveries it holds, so it only ever replaces or removes its own files. */
export const SECRETS_STATE_FILE = 'secrets-state.json';

/**
 * Refused unless `secrets.allow_dirs` names them: files and directories whose
 * content decides who may log in, what runs at boot or on a schedule, or which
 * code is loaded. A server that may write there owns the machine.
 */
export const PROTECTED_PATHS: readonly string[] = [
  '/etc/passwd',
  '/etc/passwd-',
  '/etc/shadow',
  '/etc/shadow-',
  '/etc/group',
  '/etc/group-',
  '/etc/gshadow',
  '/etc/gshadow-',
  '/etc/sudoers',
  '/etc/sudoers.d',
  '/etc/systemd',
  '/etc/profile',
  '/etc/profile.d',
  '/etc/environment',
  '/etc/bash.bashrc',
  '/etc/pam.d',
  '/etc/security',
  '/etc/ssh',
  '/etc/init.d',
  '/etc/rc.local',
  '/etc/modprobe.d',
  '/etc/modules-load.d',
  '/etc/sysctl.conf',
  '/etc/sysctl.d',
  '/etc/udev',
  '/etc/polkit-1',
  // Package sources and hooks (apt.conf.d runs commands as root).
  '/etc/apt',
  '/etc/yum.repos.d',
  '/var/lib/dpkg',
  '/etc/login.defs',
  '/etc/sudo.conf',
  // Run by root: at boot, on a schedule, on network or log events, at login.
  '/etc/tmpfiles.d',
  '/usr/lib/tmpfiles.d',
  '/etc/logrotate.d',
  '/etc/update-motd.d',
  '/etc/NetworkManager/dispatcher.d',
  '/etc/network',
  '/etc/bash_completion.d',
  '/etc/xdg/autostart',
  '/var/spool',
  '/usr',
  '/bin',
  '/sbin',
  '/boot',
  '/proc',
  '/sys',
  '/dev',
  '/run',
  '/var/run',
  '/root',
];
/** Protected by name rather than path: `/lib*`, `/etc/cron*`, `/etc/ld.so.*`, `/etc/rc*.d`, and any `.ssh` directory. */
const PROTECTED_TOP = /^lib/;
const PROTECTED_IN_ETC = [/^cron/, /^ld\.so/, /^rc.*\.d$/];

const STATE_VERSION = 1;
const DEFAULT_FETCH_TIMEOUT_MS = 30_000;
const DEFAULT_RETRY_MS = 30_000;
/** A file larger than this at a destination is certainly not a secret this agent wrote. */
const MAX_COMPARED_BYTES = 1024 * 1024;

const HeldSchema = z.object({
  path: z.string(),
  dest: z.string(),
  version: z.number().int(),
  sha256: z.string(),
  /** Content hashes a crash may have left on disk (a write recorded but not yet renamed into place). */
  prior: z.array(z.string()).optional(),
});
type Held = z.infer<typeof HeldSchema>;
const StateSchema = z.object({ version: z.literal(STATE_VERSION), held: z.record(z.string(), HeldSchema) });
type State = z.infer<typeof StateSchema>;

/** A destination the agent will not write (or remove): reported as `error`, not retried until the manifest changes. */
export class DestinationRefused extends Error {
  override name = 'DestinationRefused';
}

/** The server refused a fetch (or the channel went away). */
class FetchFailed extends Error {
  override name = 'FetchFailed';
}

/** Why `dest` may not receive a secret under `policy`, or undefined. Pure: the file system is looked at later. */
export function destinationRefusal(dest: string, policy: SecretsPolicy): string | undefined {
  const problem = destinationProblem(dest);
  if (problem !== undefined) return `destination ${problem}`;
  if (policy.allowDirs.length > 0) {
    if (policy.allowDirs.some((dir) => isUnder(dest, dir))) return undefined;
    return `${dest} is outside the directories this agent allows secrets in (secrets.allow_dirs: ${policy.allowDirs.join(', ')})`;
  }
  const hit = protectedLocation(dest);
  if (hit !== undefined) {
    return `${dest} is a protected system location (${hit}); allow it explicitly with secrets.allow_dirs in the agent's config.yaml`;
  }
  return undefined;
}

/** The protected system location `path` is (or is inside), or undefined. */
export function protectedLocation(path: string): string | undefined {
  const parts = path.slice(1).split('/');
  return (
    PROTECTED_PATHS.find((p) => path === p || isUnder(path, p)) ??
    (PROTECTED_TOP.test(parts[0] ?? '') ? `/${parts[0] ?? ''}` : undefined) ??
    (parts[0] === 'etc' && parts.length > 1 && PROTECTED_IN_ETC.some((re) => re.test(parts[1] ?? '')) ? `/etc/${parts[1] ?? ''}` : undefined) ??
    (parts.slice(0, -1).includes('.ssh') ? '.ssh' : undefined) ??
    (parts[parts.length - 1] === '.ssh' ? '.ssh' : undefined)
  );
}

/** A protected location below `dir` (a restore into `dir` could write it), or undefined. */
export function protectedBelow(dir: string): string | undefined {
  if (dir === '/etc') return '/etc';
  return PROTECTED_PATHS.find((p) => isUnder(p, dir));
}

function isUnder(path: string, dir: string): boolean {
  return dir === '/' ? path.startsWith('/') : path.startsWith(`${dir}/`);
}

export interface SecretDeliveryOptions {
  /** The host's root: destinations and /etc/passwd and /etc/group are read and written below it (`/` on a real node). */
  root: string;
  dataDir: string;
  policy: SecretsPolicy;
  log: Logger;
  fetchTimeoutMs?: number;
  /** After a failure that may pass (the server, the network), the manifest is applied again this much later. */
  retryMs?: number;
}

export type SecretMessage = SecretFetch | SecretStatus;

interface PendingFetch {
  item: ManifestItem;
  resolve: (value: Buffer) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Holds the secrets the server's manifest lists, as files: fetches each value
 * over the channel, writes it atomically with its mode and owner, and removes
 * the files of deliveries that leave the manifest. Refuses destinations outside
 * the agent's policy, paths through symbolic links, and files it did not write.
 * Never logs a value.
 */
export class SecretDeliveryRunner {
  readonly #pending = new Map<string, PendingFetch>();
  /** What was last reported per delivery on this connection: only changes are sent. */
  readonly #reported = new Map<string, string>();
  #send: ((message: SecretMessage) => void) | undefined;
  #next: ManifestItem[] | undefined;
  #running: Promise<void> | undefined;
  #state: State | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  #dataDirs: string[] | undefined;
  /** Counts connections: a manifest applied across a reconnect reports nothing (the new connection's manifest follows). */
  #connection = 0;
  /** Removals done while the connection changed: their files are gone and forgotten, so they are reported with the next manifest. */
  readonly #carried: StatusItem[] = [];

  constructor(private readonly options: SecretDeliveryOptions) {}

  /** A new connection: statuses are reported in full again (the server may have missed the last ones). */
  connected(send: (message: SecretMessage) => void): void {
    this.#send = send;
    this.#connection += 1;
    this.#reported.clear();
  }

  disconnected(): void {
    this.#send = undefined;
    this.#connection += 1;
    clearTimeout(this.#retryTimer);
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      this.#pending.delete(id);
      pending.reject(new FetchFailed('the connection to the server closed'));
    }
  }

  stop(): void {
    this.#stopped = true;
    this.disconnected();
  }

  /** Applies a manifest; resolves once it (and any that arrived meanwhile) has been applied. */
  manifest(items: readonly ManifestItem[]): Promise<void> {
    this.#next = [...items];
    clearTimeout(this.#retryTimer);
    return this.#kick();
  }

  /** A `secret_value`: hands it to the fetch waiting for it. */
  onValue(msg: SecretValue): void {
    const pending = this.#pending.get(msg.requestId);
    if (!pending) return;
    this.#pending.delete(msg.requestId);
    clearTimeout(pending.timer);
    if (msg.deliveryId !== pending.item.deliveryId || msg.version !== pending.item.version) {
      pending.reject(new FetchFailed('the server answered with another delivery or version than asked for'));
      return;
    }
    pending.resolve(Buffer.from(msg.value, 'base64'));
  }

  /** An `error` with a request id: true when it answered one of this runner's fetches. */
  onError(requestId: string, code: string, message: string): boolean {
    const pending = this.#pending.get(requestId);
    if (!pending) return false;
    this.#pending.delete(requestId);
    clearTimeout(pending.timer);
    pending.reject(new FetchFailed(`the server refused: ${code}: ${message}`));
    return true;
  }

  #kick(): Promise<void> {
    if (this.#running) return this.#running;
    const running = (async () => {
      try {
        for (let items = this.#next; items !== undefined && !this.#stopped; items = this.#next) {
          this.#next = undefined;
          await this.#apply(items);
        }
      } finally {
        this.#running = undefined;
      }
    })();
    this.#running = running;
    return running;
  }

  async #apply(items: ManifestItem[]): Promise<void> {
    const connection = this.#connection;
    const state = await this.#loadState();
    const wanted = new Map(items.map((i) => [i.deliveryId, i]));
    const removals: StatusItem[] = this.#carried.splice(0);
    // Removals first: a new delivery may take over the file of one that left.
    for (const [id, held] of Object.entries(state.held)) {
      const item = wanted.get(id);
      if (item && item.dest === held.dest) continue;
      removals.push(await this.#remove(id, held, state));
    }
    const statuses: StatusItem[] = [...removals];
    let retry = false;
    const dests = new Set<string>();
    for (const item of items) {
      if (this.#stopped) return;
      if (dests.has(item.dest)) {
        statuses.push(failed(item, `another delivery on this node already writes ${item.dest}`));
        continue;
      }
      dests.add(item.dest);
      try {
        await this.#hold(item, state);
        statuses.push({ deliveryId: item.deliveryId, version: item.version, state: 'delivered' });
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (!(err instanceof DestinationRefused)) retry = true;
        this.options.log.warn({ deliveryId: item.deliveryId, dest: item.dest, version: item.version, reason: message }, 'secret not delivered');
        statuses.push(failed(item, message));
      }
    }
    if (connection !== this.#connection) {
      this.#carried.push(...removals);
      return;
    }
    this.#report(statuses);
    if (retry && !this.#stopped) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = setTimeout(() => {
        if (this.#next !== undefined || this.#send === undefined) return;
        this.#next = items;
        void this.#kick().catch((err: unknown) => this.options.log.error({ err }, 'applying the secrets manifest failed'));
      }, this.options.retryMs ?? DEFAULT_RETRY_MS);
      this.#retryTimer.unref();
    }
  }

  /** Makes the file of `item` hold its value at its version, with its mode and owner. */
  async #hold(item: ManifestItem, state: State): Promise<void> {
    const refusal = destinationRefusal(item.dest, this.options.policy) ?? (await this.#dataDirRefusal(item.dest));
    if (refusal !== undefined) throw new DestinationRefused(refusal);
    const physical = join(this.options.root, item.dest);
    const found = await inspect(this.options.root, item.dest);
    const held = state.held[item.deliveryId];
    const ours = held !== undefined && held.dest === item.dest;
    if (found.exists && !ours) {
      throw new DestinationRefused(`${item.dest} already exists and was not written by this agent; remove it or choose another destination`);
    }
    const ids = await resolveAccount(this.options.root, item.owner, item.group);
    if (ours && found.exists && held.version === item.version && held.sha256 === item.sha256) {
      const current = await hashRegularFile(physical);
      const stat = found.stat;
      const modeOk = stat !== undefined && (stat.mode & 0o7777) === item.mode;
      const ownerOk = stat !== undefined && (ids.uid === undefined || stat.uid === ids.uid) && (ids.gid === undefined || stat.gid === ids.gid);
      if (current === item.sha256 && modeOk && ownerOk) return;
    }
    const value = await this.#fetch(item);
    try {
      if (sha256Hex(value) !== item.sha256) throw new FetchFailed('the value fetched does not match the manifest (it changed meanwhile); the next manifest brings the new one');
      // Recorded before the file moves into place: after a crash the file is still known as this agent's.
      const prior = ours ? [held.sha256, ...(held.prior ?? [])].filter((h) => h !== item.sha256).slice(0, 4) : [];
      state.held[item.deliveryId] = { path: item.path, dest: item.dest, version: item.version, sha256: item.sha256, ...(prior.length > 0 ? { prior } : {}) };
      await this.#saveState(state);
      await makeParents(this.options.root, item.dest, found.missingFrom);
      await writeSecretFile(this.options.root, item.dest, value, item.mode, ids);
      state.held[item.deliveryId] = { path: item.path, dest: item.dest, version: item.version, sha256: item.sha256 };
      await this.#saveState(state);
      this.options.log.info({ deliveryId: item.deliveryId, path: item.path, version: item.version, dest: item.dest }, 'secret delivered');
    } finally {
      value.fill(0);
    }
  }

  /** Removes the file of a delivery that left the manifest, if it still holds what this agent wrote. */
  async #remove(id: string, held: Held, state: State): Promise<StatusItem> {
    let error: string | undefined;
    try {
      const found = await inspect(this.options.root, held.dest);
      if (found.exists) {
        const current = await hashRegularFile(join(this.options.root, held.dest));
        if (current !== undefined && (current === held.sha256 || (held.prior ?? []).includes(current))) {
          // Once more right before the unlink: the directories must not have changed hands meanwhile.
          await checkDirectories(this.options.root, held.dest);
          await unlink(join(this.options.root, held.dest));
          await fsyncDir(dirname(join(this.options.root, held.dest)));
          this.options.log.info({ deliveryId: id, path: held.path, dest: held.dest }, 'secret removed');
        } else {
          error = `${held.dest} changed on the node since the agent wrote it; left in place`;
        }
      }
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    delete state.held[id];
    await this.#saveState(state);
    if (error !== undefined) this.options.log.warn({ deliveryId: id, dest: held.dest, reason: error }, 'secret file not removed');
    return error === undefined ? { deliveryId: id, version: held.version, state: 'removed' } : { deliveryId: id, version: held.version, state: 'error', error: clip(error) };
  }

  #fetch(item: ManifestItem): Promise<Buffer> {
    const send = this.#send;
    if (!send) return Promise.reject(new FetchFailed('not connected to the server'));
    const requestId = randomUUID();
    return new Promise<Buffer>((resolvePromise, reject) => {
      const timeoutMs = this.options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        reject(new FetchFailed(`no answer from the server within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.#pending.set(requestId, { item, resolve: resolvePromise, reject, timer });
      send({ type: 'secret_fetch', requestId, deliveryId: item.deliveryId, version: item.version });
    });
  }

  #report(statuses: readonly StatusItem[]): void {
    const send = this.#send;
    if (!send) return;
    const changed = statuses.filter((s) => this.#reported.get(s.deliveryId) !== statusKey(s));
    for (let i = 0; i < changed.length; i += SECRET_DELIVERY_LIMITS.maxItemsPerNode) {
      send({ type: 'secret_status', items: changed.slice(i, i + SECRET_DELIVERY_LIMITS.maxItemsPerNode) });
    }
    for (const s of changed) this.#reported.set(s.deliveryId, statusKey(s));
  }

  /** The agent's own data directory (its key, certificate, configuration) never receives a secret. */
  async #dataDirRefusal(dest: string): Promise<string | undefined> {
    if (!this.#dataDirs) {
      const plain = resolve(this.options.dataDir);
      const real = await realpath(plain).catch(() => plain);
      this.#dataDirs = [...new Set([plain, real])];
    }
    const physical = resolve(join(this.options.root, dest));
    const real = await realpath(this.options.root)
      .then((r) => join(r, dest))
      .catch(() => physical);
    for (const dir of this.#dataDirs) {
      for (const p of [physical, real]) {
        if (p === dir || p.startsWith(`${dir}/`)) return `${dest} is inside the agent's own data directory`;
      }
    }
    return undefined;
  }

  async #loadState(): Promise<State> {
    if (this.#state) return this.#state;
    const path = join(this.options.dataDir, SECRETS_STATE_FILE);
    let state: State = { version: STATE_VERSION, held: {} };
    try {
      const parsed = StateSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
      if (parsed.success) state = parsed.data;
      // Forgetting what it wrote is the safe failure: the agent then refuses to touch those files.
      else this.options.log.error({ path }, 'the secrets state file is invalid; starting from an empty one');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.options.log.error({ path, err: (err as Error).message }, 'the secrets state file cannot be read; starting from an empty one');
    }
    this.#state = state;
    return state;
  }

  async #saveState(state: State): Promise<void> {
    await writeFileAtomic(join(this.options.dataDir, SECRETS_STATE_FILE), `${JSON.stringify(state)}\n`, 0o600);
  }
}

function failed(item: ManifestItem, message: string): StatusItem {
  return { deliveryId: item.deliveryId, version: item.version, state: 'error', error: clip(message) };
}

function clip(message: string): string {
  return message.length > SECRET_DELIVERY_LIMITS.maxErrorLength ? `${message.slice(0, SECRET_DELIVERY_LIMITS.maxErrorLength - 1)}…` : message;
}

function statusKey(s: StatusItem): string {
  return `${s.state}\u0000${s.version}\u0000${s.error ?? ''}`;
}

function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

interface Inspected {
  exists: boolean;
  stat?: { mode: number; uid: number; gid: number };
  /** Index of the first missing directory component (components of `dest` without the file name), or -1. */
  missingFrom: number;
}

/**
 * Walks `dest` below `root` with lstat: every existing directory from the root
 * down must pass `checkDirectory`, and the destination must be a regular file
 * (not a link) if it exists.
 */
async function inspect(root: string, dest: string): Promise<Inspected> {
  const missingFrom = await checkDirectories(root, dest);
  if (missingFrom >= 0) return { exists: false, missingFrom };
  const stat = await lstat(join(root, dest)).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new DestinationRefused(`${dest} cannot be examined: ${err.code ?? err.message}`);
  });
  if (stat === undefined) return { exists: false, missingFrom: -1 };
  if (stat.isSymbolicLink()) throw new DestinationRefused(`${dest} is a symbolic link; secrets are never written through links`);
  if (!stat.isFile()) throw new DestinationRefused(`${dest} exists and is not a regular file`);
  return { exists: true, stat: { mode: stat.mode, uid: stat.uid, gid: stat.gid }, missingFrom: -1 };
}

/**
 * Checks the root and each existing directory of `dest` below it, from the top
 * down, with lstat; returns the index of the first missing one, or -1. Cheap
 * enough to run again right before a rename or an unlink.
 */
async function checkDirectories(root: string, dest: string): Promise<number> {
  const dirs = dest.slice(1).split('/').slice(0, -1);
  for (let i = -1; i < dirs.length; i++) {
    const shown = `/${dirs.slice(0, i + 1).join('/')}`;
    const stat = await lstat(join(root, ...dirs.slice(0, i + 1))).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw new DestinationRefused(`${shown} cannot be examined: ${err.code ?? err.message}`);
    });
    if (stat === undefined) {
      if (i < 0) throw new DestinationRefused(`the agent's root ${root} does not exist`);
      return i;
    }
    checkDirectory(stat, shown);
  }
  return -1;
}

/**
 * A directory a secret goes through, as OpenSSH's StrictModes wants it: not a
 * link, owned by root or by the agent, and writable by neither its group nor
 * others (a sticky world-writable one like /tmp is refused too). Anyone else
 * who may change it could swap a component for a link between the agent's
 * checks and its open, rename or unlink.
 */
function checkDirectory(stat: Stats, shown: string): void {
  if (stat.isSymbolicLink()) throw new DestinationRefused(`${shown} is a symbolic link; secrets are never written through links`);
  if (!stat.isDirectory()) throw new DestinationRefused(`${shown} is not a directory`);
  const agent = process.geteuid?.() ?? 0;
  if (stat.uid !== 0 && stat.uid !== agent) {
    throw new DestinationRefused(`${shown} is owned by uid ${stat.uid}, neither root nor the agent's uid ${agent}; secrets go only into directories no one else may change`);
  }
  if ((stat.mode & 0o022) !== 0) {
    const who = (stat.mode & 0o002) !== 0 ? 'everyone' : 'its group';
    throw new DestinationRefused(`${shown} is writable by ${who} (mode ${(stat.mode & 0o7777).toString(8).padStart(4, '0')}); secrets go only into directories no one but root or the agent may change`);
  }
}

/** Creates the missing parent directories of `dest`, one at a time, mode 0755 whatever the umask. */
async function makeParents(root: string, dest: string, missingFrom: number): Promise<void> {
  if (missingFrom < 0) return;
  const dirs = dest.slice(1).split('/').slice(0, -1);
  for (let i = missingFrom; i < dirs.length; i++) {
    const path = join(root, ...dirs.slice(0, i + 1));
    try {
      await mkdir(path, { mode: 0o755 });
      await chmod(path, 0o755);
      await fsyncDir(dirname(path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Someone made it meanwhile: it must still be a plain directory.
      const stat = await lstat(path);
      if (!stat.isDirectory()) throw new DestinationRefused(`/${dirs.slice(0, i + 1).join('/')} appeared meanwhile and is not a directory`);
    }
  }
}

/**
 * Writes a secret so a reader sees the old file or the new one, never a part:
 * a temp file in the same directory (O_EXCL, O_NOFOLLOW, the final mode from
 * the start), write, fchown, fsync, rename, fsync of the directory. Before the
 * rename the directory is checked to still be where it was (no component
 * swapped for a link meanwhile), and each directory of the path again as
 * `inspect` checked it.
 */
async function writeSecretFile(root: string, dest: string, value: Buffer, mode: number, ids: { uid?: number; gid?: number }): Promise<void> {
  const path = join(root, dest);
  const dir = dirname(path);
  const expectedDir = join(await realpath(root), dirname(dest));
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    await handle.writeFile(value);
    if (ids.uid !== undefined || ids.gid !== undefined) {
      try {
        await handle.chown(ids.uid ?? -1, ids.gid ?? -1);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new DestinationRefused(`cannot give ${dest} to ${ids.uid ?? '-'}:${ids.gid ?? '-'}: ${code === 'EPERM' ? 'the agent does not run as root' : (code ?? String(err))}`);
      }
    }
    // After chown (which may clear bits) and regardless of the umask.
    await handle.chmod(mode);
    await handle.sync();
    await handle.close();
    handle = undefined;
    if ((await realpath(dir)) !== expectedDir) throw new DestinationRefused(`${dirname(dest)} changed while the secret was being written (a link was put in its path)`);
    if ((await checkDirectories(root, dest)) >= 0) throw new DestinationRefused(`${dirname(dest)} changed while the secret was being written (a directory went away)`);
    await rename(tmp, path);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dir);
}

/** sha256 of a regular file read without following a link, or undefined when it is no such file or too large to be ours. */
async function hashRegularFile(path: string): Promise<string | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile() || stat.size > MAX_COMPARED_BYTES) return undefined;
    const data = await handle.readFile();
    try {
      return sha256Hex(data);
    } finally {
      data.fill(0);
    }
  } finally {
    await handle.close();
  }
}

/**
 * The uid and gid for `owner` and `group`, from /etc/passwd and /etc/group
 * under the root. Numeric ids are taken as they are; an owner without a group
 * gets the owner's primary group.
 */
export async function resolveAccount(root: string, owner: string | undefined, group: string | undefined): Promise<{ uid?: number; gid?: number }> {
  if (owner === undefined && group === undefined) return {};
  const out: { uid?: number; gid?: number } = {};
  if (owner !== undefined) {
    const users = parseAccounts(await readHostFile(root, '/etc/passwd').catch(() => undefined));
    const entry = /^[0-9]+$/.test(owner) ? users.find((u) => u.id === Number(owner)) : users.find((u) => u.name === owner);
    if (/^[0-9]+$/.test(owner)) out.uid = Number(owner);
    else if (entry) out.uid = entry.id;
    else throw new DestinationRefused(`user "${owner}" does not exist on this node`);
    if (group === undefined && entry?.primaryGid !== undefined) out.gid = entry.primaryGid;
  }
  if (group !== undefined) {
    if (/^[0-9]+$/.test(group)) out.gid = Number(group);
    else {
      const entry = parseAccounts(await readHostFile(root, '/etc/group').catch(() => undefined)).find((g) => g.name === group);
      if (!entry) throw new DestinationRefused(`group "${group}" does not exist on this node`);
      out.gid = entry.id;
    }
  }
  return out;
}

function parseAccounts(text: string | undefined): { name: string; id: number; primaryGid?: number }[] {
  const out: { name: string; id: number; primaryGid?: number }[] = [];
  for (const line of (text ?? '').split('\n')) {
    const fields = line.split(':');
    const [name, , id, gid] = fields;
    if (!name || id === undefined || !/^[0-9]+$/.test(id)) continue;
    out.push({ name, id: Number(id), ...(gid !== undefined && /^[0-9]+$/.test(gid) ? { primaryGid: Number(gid) } : {}) });
  }
  return out;
}
