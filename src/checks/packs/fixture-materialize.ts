import { chmod, lchown, lstat, lutimes, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path/posix';
import { parse } from 'yaml';
import { z } from 'zod';

const hostPath = z.string().regex(/^\/./, 'must be an absolute path below /');
const octal = z.string().regex(/^[0-7]{3,4}$/, 'must be an octal mode such as 0644');

const EntryObjectSchema = z
  .strictObject({
    content: z.string().optional(),
    link: z.string().optional(),
    dir: z.literal(true).optional(),
    mode: octal.optional(),
    uid: z.number().int().nonnegative().optional(),
    gid: z.number().int().nonnegative().optional(),
    /** ISO time; files get the time they are written otherwise. */
    mtime: z.iso.datetime().optional(),
  })
  .refine((e) => [e.content, e.link, e.dir].filter((v) => v !== undefined).length <= 1, 'give at most one of content, link, dir');

/**
 * One path of a fixture tree: a string is a file's text; an object is a file,
 * a directory or a symlink with its metadata, or — with none of content, link
 * or dir — a change of metadata on a path the tree already has.
 */
export const FixtureEntrySchema = z.union([z.string(), EntryObjectSchema]);
export type FixtureEntry = z.infer<typeof FixtureEntrySchema>;

export const FixtureTreeSchema = z.record(hostPath, FixtureEntrySchema);
export type FixtureTree = z.infer<typeof FixtureTreeSchema>;

/** Changes to a tree: entries to add, replace or re-mode, and paths (with all below them) to remove. */
export const OverlaySchema = z.strictObject({
  set: FixtureTreeSchema.optional(),
  remove: z.array(hostPath).optional(),
});
export type Overlay = z.infer<typeof OverlaySchema>;

type EntryObject = z.infer<typeof EntryObjectSchema>;

function asObject(entry: FixtureEntry): EntryObject {
  return typeof entry === 'string' ? { content: entry } : entry;
}

function isMetadataOnly(entry: EntryObject): boolean {
  return entry.content === undefined && entry.link === undefined && entry.dir === undefined;
}

/** The tree after an overlay: removals first (a removed directory takes its contents), then the set entries. */
export function applyOverlay(tree: FixtureTree, overlay: Overlay): FixtureTree {
  const removed = overlay.remove ?? [];
  const out: FixtureTree = Object.fromEntries(
    Object.entries(tree).filter(([path]) => !removed.some((r) => path === r || path.startsWith(`${r}/`))),
  );
  for (const [path, entry] of Object.entries(overlay.set ?? {})) {
    const next = asObject(entry);
    if (!isMetadataOnly(next)) {
      out[path] = next;
      continue;
    }
    const current = out[path];
    if (current === undefined) throw new Error(`${path}: a metadata change needs the path in the tree`);
    out[path] = { ...asObject(current), ...next };
  }
  return out;
}

export interface MaterializeOptions {
  /** Give files their owners (needs root). */
  chown: boolean;
  /** Write only this path and what is below it; the directories above it must exist. */
  only?: string;
}

function isAtOrBelow(path: string, top: string): boolean {
  return path === top || path.startsWith(`${top}/`);
}

function depth(path: string): number {
  return path.split('/').length;
}

/**
 * Writes a tree under `root`. Every mode is set explicitly (files 0644 and
 * directories 0755 unless given), so the result does not depend on the umask;
 * ownership is applied only when `chown` is true, since only root may give files
 * away. Metadata goes on deepest first, so a directory's mtime is the last thing
 * written in it.
 */
export async function materializeTree(root: string, tree: FixtureTree, opts: MaterializeOptions): Promise<void> {
  const within = (path: string): boolean => opts.only === undefined || isAtOrBelow(path, opts.only);
  const entries = Object.entries(tree)
    .filter(([path]) => within(path))
    .map(([path, entry]) => [path, asObject(entry)] as const);
  const implicitDirs = new Set<string>();
  for (const [path] of entries) {
    for (let dir = dirname(path); dir !== '/' && tree[dir] === undefined && within(dir); dir = dirname(dir)) implicitDirs.add(dir);
  }
  const byDepth = <T extends readonly [string, ...unknown[]]>(list: T[]): T[] => list.sort((a, b) => depth(a[0]) - depth(b[0]));
  for (const [path, entry] of byDepth([...entries])) {
    const full = join(root, path);
    if (isMetadataOnly(entry)) throw new Error(`${path}: a metadata change needs the path in the tree`);
    await mkdir(dirname(full), { recursive: true });
    if (entry.dir) await mkdir(full, { recursive: true });
    else if (entry.link !== undefined) await symlink(entry.link, full);
    else await writeFile(full, entry.content ?? '');
  }
  const metadata: (readonly [string, EntryObject])[] = [...entries, ...[...implicitDirs].map((dir) => [dir, { dir: true } as EntryObject] as const)];
  for (const [path, entry] of byDepth(metadata).reverse()) {
    const full = join(root, path);
    // Owner first: chown clears the set-user-ID and set-group-ID bits that chmod then sets.
    if (opts.chown) await lchown(full, entry.uid ?? 0, entry.gid ?? 0);
    if (entry.link === undefined) await chmod(full, parseInt(entry.mode ?? (entry.dir ? '0755' : '0644'), 8));
    if (entry.mtime !== undefined) {
      const time = new Date(entry.mtime);
      await lutimes(full, time, time);
    }
  }
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined)) !== undefined;
}

/**
 * Turns a materialized `base` tree under `root` into base + overlay by rewriting
 * only the paths the overlay touches, and returns the function that turns it
 * back. Building a whole tree per test case costs far more than the evaluation
 * it serves; this costs a handful of file operations.
 */
export async function applyOverlayInPlace(root: string, base: FixtureTree, overlay: Overlay, opts: { chown: boolean }): Promise<() => Promise<void>> {
  const merged = applyOverlay(base, overlay);
  const touched = [...new Set([...(overlay.remove ?? []), ...Object.keys(overlay.set ?? {})])].sort((a, b) => depth(a) - depth(b));
  // What to restore for each touched path: the path itself, or the topmost
  // directory the overlay is about to create above it.
  const restore: string[] = [];
  for (const path of touched) {
    let top = path;
    while (dirname(top) !== '/' && !(await exists(join(root, dirname(top))))) top = dirname(top);
    restore.push(top);
  }
  for (const path of touched) {
    await rm(join(root, path), { recursive: true, force: true });
    await materializeTree(root, merged, { ...opts, only: path });
  }
  return async () => {
    for (const top of restore) {
      await rm(join(root, top), { recursive: true, force: true });
      await materializeTree(root, base, { ...opts, only: top });
    }
  };
}

/** Only root may give files away; elsewhere the trees are written with the caller's ids. */
/** The moment the fixtures describe: file ages and certificate lifetimes are written relative to it. */
export const FIXTURE_NOW = Date.UTC(2025, 5, 1);

export const CAN_CHOWN = process.getuid?.() === 0;

/** The hardened Debian 12 machine of linux-baseline's fixtures (`fixtures/base.yml`). */
export async function loadBaseTree(): Promise<FixtureTree> {
  const text = await readFile(new URL('./fixtures/base.yml', import.meta.url), 'utf8');
  return z.strictObject({ tree: FixtureTreeSchema }).parse(parse(text)).tree;
}

/** The base machine written to a new temp directory, for benchmarks and ad-hoc runs; the caller removes it. */
export async function materializeBaseTree(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'bulwark-base-'));
  await materializeTree(root, await loadBaseTree(), { chown: CAN_CHOWN });
  return root;
}
