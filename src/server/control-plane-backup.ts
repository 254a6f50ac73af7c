import { execFile } from 'node:child_process';
import { copyFile, lstat, mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { BulwarkError } from '../core/errors.js';
import { fsyncDir } from '../core/fs.js';
import { VERSION } from '../core/version.js';
import { backup } from '../backup/archiver.js';
import type { Repository } from '../backup/repository.js';
import { restore } from '../backup/restorer.js';
import { findSnapshot, type SnapshotRef } from '../backup/snapshot.js';

/**
 * Backup and restore of the control plane itself: a consistent copy of the
 * database (SQLite's online backup, or `pg_dump`) and the files of the data
 * directory (the master key file of a key-file cluster, the listener
 * certificate, the CA certificate, the admin token) go into a backup repository
 * as one snapshot tagged `control-plane`. Key material in the database stays
 * sealed under the master key; the repository encrypts everything again.
 * Restored on a fresh machine, the cluster has the same CA, nodes and
 * certificates, so agents reconnect as they were.
 */
export const CONTROL_PLANE_TAG = 'control-plane';
const MANIFEST = 'control-plane.json';
const SQLITE_COPY = 'bulwark.db';
const PG_DUMP = 'postgres.dump';
/** Data-directory files that are the database itself or scratch, not state to carry over. */
const SKIPPED = /^(bulwark\.db(-wal|-shm|-journal)?|\..*|.*\.tmp)$/;

export interface ControlPlaneManifest {
  v: 1;
  database: 'sqlite' | 'postgres';
  created: string;
  bulwark: string;
  host: string;
  /** Data-directory files carried in the snapshot (names only). */
  files: string[];
}

export interface ControlPlaneSource {
  dataDir: string;
  /** `postgres://…` when the cluster runs on PostgreSQL; otherwise `<dataDir>/bulwark.db`. */
  db?: string;
  /** PostgreSQL schema (tests run each cluster in its own). */
  schema?: string;
}

function isPostgres(db: string | undefined): db is string {
  return db !== undefined && /^postgres(ql)?:\/\//.test(db);
}

function run(command: string, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 4 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      // The connection URL may hold a password: name the tool and its own complaint, never the arguments.
      const lines = stderr.trim().split('\n');
      const detail = missing ? `${command} is not installed (Debian: apt-get install postgresql-client)` : (lines.find((l) => /error/i.test(l)) ?? lines.at(-1) ?? err.message).slice(0, 300);
      reject(new BulwarkError(missing ? 'CONFIG_INVALID' : 'UNAVAILABLE', `${what} failed: ${detail}`));
    });
  });
}

async function createSchema(url: string, schema: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new BulwarkError('BAD_REQUEST', `schema name ${JSON.stringify(schema)} is not a plain identifier`);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`create schema if not exists "${schema}"`);
  } finally {
    await client.end();
  }
}

/** A consistent copy of a live SQLite database (the online backup API: readers and the writer go on meanwhile), then checked. */
async function copySqlite(source: string, dest: string): Promise<void> {
  let db: Database.Database;
  try {
    db = new Database(source, { readonly: true, fileMustExist: true });
  } catch {
    throw new BulwarkError('NOT_INITIALISED', `no database at ${source}: is this the data directory of a cluster?`);
  }
  try {
    await db.backup(dest);
  } finally {
    db.close();
  }
  const copy = new Database(dest, { readonly: true });
  try {
    const result = copy.pragma('integrity_check', { simple: true });
    if (result !== 'ok') throw new BulwarkError('INTERNAL', `the database copy failed its integrity check: ${String(result)}`);
  } finally {
    copy.close();
  }
}

async function dataFiles(dataDir: string): Promise<string[]> {
  const names: string[] = [];
  for (const name of await readdir(dataDir)) {
    if (SKIPPED.test(name) || name === 'control-plane-backup') continue;
    if ((await lstat(join(dataDir, name))).isFile()) names.push(name);
  }
  return names.sort();
}

export interface ControlPlaneBackupResult {
  snapshot: SnapshotRef;
  manifest: ControlPlaneManifest;
}

/**
 * Writes a control-plane snapshot. The staging folder sits inside the data
 * directory (private, 0700, on the same disk) at a fixed place, so successive
 * snapshots share a path and deduplicate against each other.
 */
export async function backupControlPlane(repo: Repository, source: ControlPlaneSource, options: { tags?: string[] } = {}): Promise<ControlPlaneBackupResult> {
  const staging = join(source.dataDir, 'control-plane-backup');
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { mode: 0o700 });
  try {
    const postgres = isPostgres(source.db);
    if (postgres) {
      const args = ['--format=custom', '--no-owner', '--no-privileges', `--file=${join(staging, PG_DUMP)}`];
      if (source.schema !== undefined) args.push(`--schema=${source.schema}`);
      await run('pg_dump', [...args, `--dbname=${source.db}`], 'pg_dump');
    } else {
      await copySqlite(source.db ?? join(source.dataDir, 'bulwark.db'), join(staging, SQLITE_COPY));
    }
    const files = await dataFiles(source.dataDir);
    for (const name of files) await copyFile(join(source.dataDir, name), join(staging, name));
    const manifest: ControlPlaneManifest = { v: 1, database: postgres ? 'postgres' : 'sqlite', created: new Date().toISOString(), bulwark: VERSION, host: hostname(), files };
    await writeFile(join(staging, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    const result = await backup(repo, { paths: [staging], tags: [CONTROL_PLANE_TAG, ...(options.tags ?? [])] });
    if (result.snapshot.summary && result.snapshot.summary.errors > 0) throw new BulwarkError('INTERNAL', 'some control-plane files could not be read; the snapshot is incomplete');
    return { snapshot: result.snapshot, manifest };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Copies a file into place the crash-safe way: a temporary copy, fsync, mode, rename, fsync of the folder. */
async function installFile(from: string, to: string, mode: number): Promise<void> {
  const tmp = `${to}.${process.pid}.tmp`;
  await copyFile(from, tmp);
  const handle = await open(tmp, 'r+');
  try {
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, to);
  await fsyncDir(dirname(to));
}

export interface ControlPlaneRestoreOptions {
  dataDir: string;
  /** Target database for a PostgreSQL snapshot (an empty database, or one to overwrite with `force`). */
  db?: string;
  schema?: string;
  snapshot?: string;
  /** Overwrite a data directory that already holds a cluster. */
  force?: boolean;
}

/** The control-plane snapshot to restore: by id, or the latest tagged one. */
export async function findControlPlaneSnapshot(repo: Repository, ref = 'latest'): Promise<SnapshotRef> {
  const all = (await repo.listSnapshots()).filter((s) => s.tags.includes(CONTROL_PLANE_TAG));
  if (all.length === 0) throw new BulwarkError('NOT_FOUND', 'the repository holds no control-plane snapshot (made by "bulwark server backup")');
  return findSnapshot(all, ref);
}

/**
 * Brings a cluster back into an empty data directory (and database). Refuses a
 * data directory that already holds a cluster unless `force`: restoring over a
 * live cluster would fork it.
 */
export async function restoreControlPlane(repo: Repository, options: ControlPlaneRestoreOptions): Promise<{ snapshot: SnapshotRef; manifest: ControlPlaneManifest }> {
  if (repo.index.size === 0) await repo.loadIndex();
  const snapshot = await findControlPlaneSnapshot(repo, options.snapshot);
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  if (!options.force) {
    for (const marker of ['bulwark.db', 'master.key', 'ca.pem']) {
      if (await lstat(join(options.dataDir, marker)).then(() => true, () => false)) {
        throw new BulwarkError('CONFLICT', `${options.dataDir} already holds a cluster (${marker}); restore into an empty data directory, or add --force to replace it`);
      }
    }
  }
  const staged = snapshot.paths[0];
  if (snapshot.paths.length !== 1 || staged === undefined) throw new BulwarkError('REPOSITORY_DAMAGED', `snapshot ${snapshot.id.slice(0, 8)} is not a control-plane snapshot`);
  const scratch = join(options.dataDir, '.restore-scratch');
  await rm(scratch, { recursive: true, force: true });
  try {
    const result = await restore(repo, snapshot.tree, { target: scratch, include: [staged], owners: false });
    if (result.problems.length > 0) {
      throw new BulwarkError('REPOSITORY_DAMAGED', `the control-plane snapshot could not be restored whole: ${result.problems.map((p) => `${p.path}: ${p.message}`).join('; ').slice(0, 500)}`);
    }
    const from = join(scratch, staged);
    const manifest = JSON.parse(await readFile(join(from, MANIFEST), 'utf8')) as ControlPlaneManifest;
    if (manifest.v !== 1 || !Array.isArray(manifest.files)) throw new BulwarkError('REPOSITORY_DAMAGED', 'the control-plane manifest is malformed');
    if (manifest.database === 'postgres') {
      if (!isPostgres(options.db)) throw new BulwarkError('BAD_REQUEST', 'this cluster ran on PostgreSQL: give the database to restore into with --db postgres://…');
      const args = ['--clean', '--if-exists', '--no-owner', '--no-privileges', '--single-transaction', '--exit-on-error'];
      if (options.schema !== undefined) {
        // pg_restore --schema restores what is in the schema, not the schema itself.
        await createSchema(options.db, options.schema);
        args.push(`--schema=${options.schema}`);
      }
      await run('pg_restore', [...args, `--dbname=${options.db}`, join(from, PG_DUMP)], 'pg_restore');
    } else {
      if (isPostgres(options.db)) throw new BulwarkError('BAD_REQUEST', 'this cluster ran on SQLite: leave out --db (its database goes into the data directory)');
      await installFile(join(from, SQLITE_COPY), join(options.dataDir, 'bulwark.db'), 0o600);
      for (const suffix of ['-wal', '-shm']) await rm(join(options.dataDir, `bulwark.db${suffix}`), { force: true });
    }
    for (const name of manifest.files) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new BulwarkError('REPOSITORY_DAMAGED', `the control-plane manifest names an unsafe file ${JSON.stringify(name)}`);
      const mode = name === 'ca.pem' ? 0o644 : 0o600;
      await installFile(join(from, name), join(options.dataDir, name), mode);
    }
    return { snapshot, manifest };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
