import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { BulwarkError, isBulwarkError } from '../core/errors.js';
import { POLICY_NAME_PATTERN } from '../protocol/backup.js';
import { openBackend } from '../backup/backend/open.js';
import { fleetNodeKey, fleetNodeLocation, fleetRootKey } from '../backup/fleet-keys.js';
import type { Credential } from '../backup/key-file.js';
import { Repository } from '../backup/repository.js';
import { canonicalRepoLocation } from '../server/backup-policy.js';
import { promptHidden } from './prompt.js';
import { clean } from './output.js';

/** Flags every stand-alone `backup` command takes to find and open a repository. */
export interface RepoFlags {
  repo?: string;
  passwordFile?: string;
  keyFile?: string;
  s3Endpoint?: string;
  /** A fleet node's own repository inside the policy repository `repo`, opened with the key derived from the policy's credential. */
  fleetNode?: string;
  /** With fleetNode: the policy's name (its node keys are derived from it and the credential). */
  fleetPolicy?: string;
}

/** Exit status of a command that finished but left some files out (unreadable on backup, damaged on restore). */
export const PARTIAL_EXIT = 12;

export function addRepoFlags(cmd: Command, options: { fleetNode?: boolean } = {}): Command {
  cmd
    .option('-r, --repo <location>', 'repository: a directory or s3://bucket/prefix (default: $BULWARK_BACKUP_REPO)')
    .option('--password-file <file>', 'read the repository password from a file (default: $BULWARK_BACKUP_PASSWORD_FILE, then $BULWARK_BACKUP_PASSWORD, then ask)')
    .option('--key-file <file>', 'open the repository with a key file instead of a password')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint, e.g. http://minio:9000 (default: $AWS_ENDPOINT_URL_S3)');
  if (options.fleetNode === false) return cmd;
  return cmd
    .option('--fleet-node <id>', "a fleet node's own repository, without the server: --repo, the password or key file are the policy's (with --fleet-policy)")
    .option('--fleet-policy <name>', 'with --fleet-node: the name of the backup policy');
}

export function repoLocation(flags: RepoFlags): string {
  // The AWS SDK warns on every run that its releases after 2026 want Node 22: noise for a backup command on Node 20.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const location = flags.repo ?? process.env.BULWARK_BACKUP_REPO;
  if (!location) throw new BulwarkError('BAD_REQUEST', 'which repository? give --repo DIR or --repo s3://bucket/prefix (or set BULWARK_BACKUP_REPO)');
  return location;
}

/**
 * Where the repository is and what opens it: the flags as given, or with
 * --fleet-node a fleet node's own repository and key, derived as the server
 * does (src/backup/fleet-keys.ts) from the policy's name and credential.
 */
async function repositoryTarget(flags: RepoFlags): Promise<{ location: string; credential: Credential }> {
  const location = repoLocation(flags);
  if (flags.fleetNode === undefined && flags.fleetPolicy === undefined) return { location, credential: await credentialFrom(flags) };
  if (flags.fleetNode === undefined || flags.fleetPolicy === undefined) {
    throw new BulwarkError('BAD_REQUEST', '--fleet-node and --fleet-policy go together: the node id and the name of its backup policy (`bulwark backup status --json` shows both)');
  }
  if (!POLICY_NAME_PATTERN.test(flags.fleetPolicy)) throw new BulwarkError('BAD_REQUEST', `--fleet-policy ${JSON.stringify(flags.fleetPolicy.slice(0, 64))} is not a policy name`);
  const given = await credentialFrom(flags);
  const root = await fleetRootKey(given, flags.fleetPolicy);
  try {
    return { location: fleetNodeLocation(canonicalRepoLocation(location), root, flags.fleetNode), credential: { kind: 'key-file', bytes: fleetNodeKey(root, flags.fleetNode) } };
  } finally {
    root.fill(0);
    if (given.kind === 'key-file') given.bytes.fill(0);
  }
}

async function readSecretFile(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new BulwarkError('BAD_REQUEST', `cannot read the ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** A password file holds the password on its first line; a trailing newline is not part of it. */
function passwordFromFile(bytes: Buffer): string {
  return bytes.toString('utf8').replace(/\r?\n$/, '');
}

/**
 * The credential: a key file, a password file, $BULWARK_BACKUP_PASSWORD, or a
 * prompt without echo (asked twice when creating, so a typo does not lock the
 * repository for good).
 */
export async function credentialFrom(flags: RepoFlags, purpose: 'open' | 'create' = 'open'): Promise<Credential> {
  if (flags.keyFile !== undefined) return { kind: 'key-file', bytes: await readSecretFile(flags.keyFile, 'key file') };
  const file = flags.passwordFile ?? process.env.BULWARK_BACKUP_PASSWORD_FILE;
  if (file !== undefined) return { kind: 'password', password: passwordFromFile(await readSecretFile(file, 'password file')) };
  const env = process.env.BULWARK_BACKUP_PASSWORD;
  if (env !== undefined) return { kind: 'password', password: env };
  if (!process.stdin.isTTY) {
    throw new BulwarkError('BAD_REQUEST', 'the repository password is needed: give --password-file FILE, --key-file FILE or set BULWARK_BACKUP_PASSWORD');
  }
  const password = await promptHidden('Repository password: ');
  if (purpose === 'create' && (await promptHidden('Repeat the password: ')) !== password) {
    throw new BulwarkError('BAD_REQUEST', 'the two passwords differ; nothing was created');
  }
  return { kind: 'password', password };
}

/**
 * The credential for `key add`: only from its own flags or asked for on the
 * terminal — never the environment that opened the repository, or rotating a
 * leaked password would silently add the leaked one again.
 */
export async function newCredentialFrom(flags: { newPasswordFile?: string; newKeyFile?: string }): Promise<Credential> {
  if (flags.newKeyFile !== undefined) return { kind: 'key-file', bytes: await readSecretFile(flags.newKeyFile, 'key file') };
  if (flags.newPasswordFile !== undefined) return { kind: 'password', password: passwordFromFile(await readSecretFile(flags.newPasswordFile, 'password file')) };
  if (!process.stdin.isTTY) throw new BulwarkError('BAD_REQUEST', 'give the new password with --new-password-file FILE (or a key file with --new-key-file FILE)');
  const password = await promptHidden('New repository password: ');
  if ((await promptHidden('Repeat the new password: ')) !== password) throw new BulwarkError('BAD_REQUEST', 'the two passwords differ; no key was added');
  return { kind: 'password', password };
}

/** Opens the repository the flags name; the caller closes it (which wipes its keys). */
export async function openRepository(flags: RepoFlags): Promise<Repository> {
  const { location, credential } = await repositoryTarget(flags);
  const backend = openBackend(location, flags.s3Endpoint === undefined ? {} : { s3Endpoint: flags.s3Endpoint });
  try {
    return await Repository.open(backend, credential);
  } catch (err) {
    await backend.close();
    // The credential and policy name choose the location: a wrong one looks for a repository that was never made.
    if (flags.fleetNode !== undefined && isBulwarkError(err) && err.code === 'REPOSITORY_NOT_FOUND') {
      throw new BulwarkError(
        'REPOSITORY_NOT_FOUND',
        `no repository of node ${flags.fleetNode} for policy "${flags.fleetPolicy ?? ''}" with this password or key file under ${clean(repoLocation(flags))}: check --fleet-policy and the credential (each credential the policy had keeps its own repository), or the node has not backed up yet`,
      );
    }
    throw err;
  }
}

/** Runs `work` on the open repository and always closes it (and its storage connections). */
export async function withRepository<T>(flags: RepoFlags, work: (repo: Repository) => Promise<T>): Promise<T> {
  const repo = await openRepository(flags);
  try {
    return await work(repo);
  } finally {
    repo.close();
    await repo.backend.close();
  }
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`;
}

export function formatSeconds(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** A one-line progress display on a TTY: files, bytes, rate and ETA; nothing when stderr is not a terminal. */
export class TransferProgress {
  readonly #enabled = process.stderr.isTTY === true;
  readonly #started = Date.now();
  #last = 0;

  constructor(private readonly label: string) {}

  get enabled(): boolean {
    return this.#enabled;
  }

  update(p: { filesDone: number; bytesDone: number; totalFiles?: number; totalBytes?: number }, force = false): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (!force && now - this.#last < 150) return;
    this.#last = now;
    const elapsed = Math.max(1, now - this.#started);
    const rate = (p.bytesDone / elapsed) * 1000;
    let line = `${this.label}: ${p.filesDone}${p.totalFiles === undefined ? '' : `/${p.totalFiles}`} files, ${formatBytes(p.bytesDone)}${p.totalBytes === undefined ? '' : ` of ${formatBytes(p.totalBytes)}`}, ${formatBytes(rate)}/s, ${formatSeconds(elapsed)}`;
    if (p.totalBytes !== undefined && p.totalBytes > 0 && rate > 0) {
      const fraction = Math.min(1, p.bytesDone / p.totalBytes);
      const width = 20;
      const filled = Math.round(fraction * width);
      line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${line}, ETA ${formatSeconds(((p.totalBytes - p.bytesDone) / rate) * 1000)}`;
    }
    process.stderr.write(`\r\x1b[K${line}`);
  }

  done(): void {
    if (this.#enabled) process.stderr.write('\r\x1b[K');
  }
}
