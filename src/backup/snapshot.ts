import { BulwarkError } from '../core/errors.js';

/**
 * A snapshot: the root tree of one backup and what it was of. Stored sealed in
 * `snapshots/<id>`; written last, after every pack and index it needs is durable,
 * so a snapshot that exists is complete.
 */
export interface SnapshotSummary {
  filesNew: number;
  filesChanged: number;
  filesUnchanged: number;
  dirs: number;
  /** Bytes of file content read and considered. */
  bytesProcessed: number;
  /** Plaintext bytes of blobs that were new to the repository. */
  bytesAdded: number;
  /** Bytes those new blobs take in the repository (after compression and sealing). */
  bytesStored: number;
  /** Sum of the sizes of all files in the snapshot. */
  totalBytes: number;
  totalFiles: number;
  errors: number;
  durationMs: number;
}

export interface Snapshot {
  v: 1;
  time: string;
  host: string;
  user: string;
  paths: string[];
  tags: string[];
  excludes: string[];
  tree: string;
  parent?: string;
  program: string;
  summary?: SnapshotSummary;
}

export interface SnapshotRef extends Snapshot {
  id: string;
}

const HEX_ID = /^[0-9a-f]{64}$/;
/** Only the form this program writes: Date.parse alone accepts free text (and escape sequences in comments). */
export const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

export function parseSnapshot(bytes: Buffer, id: string): SnapshotRef {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new BulwarkError('REPOSITORY_DAMAGED', `snapshot ${id.slice(0, 8)} is not valid JSON`);
  }
  const s = json as Partial<Snapshot>;
  const ok =
    s !== null && typeof s === 'object' && s.v === 1 && typeof s.time === 'string' && ISO_TIME.test(s.time) && !Number.isNaN(Date.parse(s.time)) && typeof s.host === 'string' && typeof s.user === 'string' &&
    Array.isArray(s.paths) && s.paths.every((p) => typeof p === 'string') && Array.isArray(s.tags) && s.tags.every((t) => typeof t === 'string') &&
    typeof s.tree === 'string' && HEX_ID.test(s.tree) && (s.parent === undefined || (typeof s.parent === 'string' && HEX_ID.test(s.parent)));
  if (!ok) throw new BulwarkError('REPOSITORY_DAMAGED', `snapshot ${id.slice(0, 8)} is malformed`);
  return { ...(s as Snapshot), excludes: Array.isArray(s.excludes) ? s.excludes : [], id };
}

/**
 * Picks one snapshot by `latest` (newest, optionally of one host/paths) or by a
 * unique prefix of its id (at least 4 hex digits, like restic's short ids).
 */
export function findSnapshot(snapshots: readonly SnapshotRef[], ref: string, filter: { host?: string; paths?: string[]; tags?: string[] } = {}): SnapshotRef {
  const matching = snapshots.filter((s) => (filter.host === undefined || s.host === filter.host) && (filter.tags === undefined || filter.tags.every((t) => s.tags.includes(t))) && (filter.paths === undefined || samePaths(s.paths, filter.paths)));
  if (ref === 'latest') {
    const newest = [...matching].sort((a, b) => Date.parse(b.time) - Date.parse(a.time) || (a.id < b.id ? 1 : -1))[0];
    if (!newest) throw new BulwarkError('NOT_FOUND', 'the repository has no snapshot yet (of that host or paths)');
    return newest;
  }
  if (!/^[0-9a-f]{4,64}$/.test(ref)) throw new BulwarkError('BAD_REQUEST', `a snapshot is "latest" or (a prefix of) its id, 4 to 64 hex digits; not ${JSON.stringify(ref)}`);
  const found = matching.filter((s) => s.id.startsWith(ref));
  if (found.length === 0) throw new BulwarkError('NOT_FOUND', `no snapshot has an id starting with ${ref}`);
  if (found.length > 1) throw new BulwarkError('AMBIGUOUS_NAME', `${found.length} snapshots have ids starting with ${ref}; give more digits`);
  return found[0] as SnapshotRef;
}

function samePaths(a: readonly string[], b: readonly string[]): boolean {
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((p, i) => p === y[i]);
}
