import { BulwarkError } from '../core/errors.js';
import type { Repository } from './repository.js';
import type { TreeNode } from './tree.js';

export interface ListedNode {
  /** Path inside the snapshot, from `/`. */
  path: string;
  node: TreeNode;
}

function splitPath(path: string): string[] {
  return path.split('/').filter((p) => p.length > 0 && p !== '.');
}

/** Every node of a snapshot's tree in depth-first name order, optionally only below `under`. */
export async function* walkTree(repo: Repository, treeId: string, under = '/'): AsyncGenerator<ListedNode> {
  const parts = splitPath(under);
  let tree = treeId;
  let prefix = '';
  for (const [i, part] of parts.entries()) {
    const node = (await repo.loadTree(tree)).nodes.find((n) => n.name === part);
    if (!node) throw new BulwarkError('NOT_FOUND', `${under} is not in the snapshot`);
    prefix += `/${part}`;
    if (node.type !== 'dir' || node.subtree === undefined) {
      if (i === parts.length - 1) yield { path: prefix, node };
      return;
    }
    if (i === parts.length - 1) yield { path: prefix, node };
    tree = node.subtree;
  }
  yield* walkBelow(repo, tree, prefix);
}

async function* walkBelow(repo: Repository, treeId: string, prefix: string): AsyncGenerator<ListedNode> {
  for (const node of (await repo.loadTree(treeId)).nodes) {
    const path = `${prefix}/${node.name}`;
    yield { path, node };
    if (node.type === 'dir' && node.subtree !== undefined) yield* walkBelow(repo, node.subtree, path);
  }
}

export type Change = '+' | '-' | 'M' | 'T' | 'U';

export interface DiffEntry {
  path: string;
  /** `+` added, `-` removed, `M` content changed, `T` type changed, `U` metadata only (mode, owner, time). */
  change: Change;
}

function sameContent(a: TreeNode, b: TreeNode): boolean {
  if (a.type === 'symlink') return a.target === b.target;
  if (a.type !== 'file') return true;
  const x = a.content ?? [];
  const y = b.content ?? [];
  return x.length === y.length && x.every((id, i) => id === y[i]);
}

function sameMeta(a: TreeNode, b: TreeNode): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && (a.type === 'dir' || a.mtimeNs === b.mtimeNs);
}

/** What changed from snapshot tree `a` to tree `b`; identical subtrees (same id) are skipped unread. */
export async function* diffTrees(repo: Repository, a: string | undefined, b: string | undefined, prefix = ''): AsyncGenerator<DiffEntry> {
  if (a === b) return;
  const left = new Map((a === undefined ? [] : (await repo.loadTree(a)).nodes).map((n) => [n.name, n]));
  const right = new Map((b === undefined ? [] : (await repo.loadTree(b)).nodes).map((n) => [n.name, n]));
  const names = [...new Set([...left.keys(), ...right.keys()])].sort();
  for (const name of names) {
    const x = left.get(name);
    const y = right.get(name);
    const path = `${prefix}/${name}`;
    if (x && y && x.type !== y.type) {
      yield { path, change: 'T' };
      continue;
    }
    if (!x || !y) yield { path, change: x ? '-' : '+' };
    else if (!sameContent(x, y)) yield { path, change: 'M' };
    else if (!sameMeta(x, y)) yield { path, change: 'U' };
    const dirX = x?.type === 'dir' ? x.subtree : undefined;
    const dirY = y?.type === 'dir' ? y.subtree : undefined;
    if (dirX !== undefined || dirY !== undefined) yield* diffTrees(repo, dirX, dirY, path);
  }
}
