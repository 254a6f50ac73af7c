import { BulwarkError } from '../core/errors.js';

/**
 * One directory of a snapshot: its entries sorted by name. Stored as a tree blob
 * (JSON, deduplicated like data: an unchanged directory costs nothing the next time).
 * Times are nanoseconds since the epoch as decimal strings (JSON numbers lose them).
 */
export type NodeType = 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket';

export interface TreeNode {
  name: string;
  type: NodeType;
  /** Permission bits and set-id/sticky bits (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  user?: string;
  group?: string;
  mtimeNs: string;
  ctimeNs?: string;
  size?: number;
  /** Inode, device and link count: restore re-links files that shared an inode. */
  inode?: number;
  device?: number;
  links?: number;
  /** Data blob ids (hex) in order, for files. */
  content?: string[];
  /** Tree blob id (hex), for directories. */
  subtree?: string;
  /** Link target, for symlinks: stored as written, never followed. */
  target?: string;
  /** Device number, for character and block devices. */
  rdev?: number;
}

export interface Tree {
  nodes: TreeNode[];
}

const TYPES = new Set<NodeType>(['file', 'dir', 'symlink', 'chardev', 'blockdev', 'fifo', 'socket']);
const HEX_ID = /^[0-9a-f]{64}$/;

/** A directory entry name the restorer can create inside its parent: no separator, no dot names, no NUL. */
export function isSafeName(name: string): boolean {
  // Well-formed only: two names differing in lone surrogates would be the same bytes (U+FFFD) on disk.
  return name.length > 0 && name.length <= 4096 && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0') && !LONE_SURROGATE.test(name);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function encodeTree(tree: Tree): Buffer {
  const nodes = [...tree.nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return Buffer.from(JSON.stringify({ v: 1, nodes }), 'utf8');
}

function isInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Parses a tree blob and checks its shape: names unique (two entries of one name
 * could swap a directory for a symlink half-way through a restore), types known,
 * ids well-formed. Anything else is damage. Whether a name is safe to create is
 * the restorer's check (isSafeName), per entry, so one bad name does not hide a
 * whole directory.
 */
export function decodeTree(bytes: Buffer, id: string): Tree {
  const damaged = (why: string): BulwarkError => new BulwarkError('REPOSITORY_DAMAGED', `tree ${id.slice(0, 12)}: ${why}`);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw damaged('not valid JSON');
  }
  const body = json as { v?: unknown; nodes?: unknown };
  if (body === null || typeof body !== 'object' || body.v !== 1 || !Array.isArray(body.nodes)) throw damaged('not a tree');
  const seen = new Set<string>();
  const nodes: TreeNode[] = [];
  for (const raw of body.nodes as unknown[]) {
    const n = raw as Partial<TreeNode>;
    if (n === null || typeof n !== 'object' || typeof n.name !== 'string') throw damaged('an entry has no name');
    if (typeof n.type !== 'string' || !TYPES.has(n.type)) throw damaged(`entry ${JSON.stringify(n.name)} has an unknown type`);
    if (!isInt(n.mode) || !isInt(n.uid) || !isInt(n.gid) || typeof n.mtimeNs !== 'string' || !/^-?\d{1,24}$/.test(n.mtimeNs)) throw damaged(`entry ${JSON.stringify(n.name)} has malformed metadata`);
    if (n.type === 'file' && (!Array.isArray(n.content) || !n.content.every((c) => typeof c === 'string' && HEX_ID.test(c)) || !isInt(n.size))) throw damaged(`file ${JSON.stringify(n.name)} has a malformed content list`);
    if (n.type === 'dir' && (typeof n.subtree !== 'string' || !HEX_ID.test(n.subtree))) throw damaged(`directory ${JSON.stringify(n.name)} has no subtree`);
    if (n.type === 'symlink' && typeof n.target !== 'string') throw damaged(`symlink ${JSON.stringify(n.name)} has no target`);
    if (seen.has(n.name)) throw damaged(`the name ${JSON.stringify(n.name)} appears twice`);
    seen.add(n.name);
    nodes.push(n as TreeNode);
  }
  return { nodes };
}
