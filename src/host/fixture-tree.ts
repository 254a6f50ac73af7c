import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** A file's text, or `{ link }` for a symlink such as `/proc/<pid>/fd/3 → socket:[…]`. */
export type FixtureEntry = string | { link: string } | { dir: true };

/**
 * Builds a throw-away host tree for tests: keys are host-absolute paths
 * (`/proc/uptime`), the returned root stands in for `/`.
 */
export async function makeFixtureTree(entries: Record<string, FixtureEntry>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'bulwark-facts-'));
  await addToFixtureTree(root, entries);
  return root;
}

export async function addToFixtureTree(root: string, entries: Record<string, FixtureEntry>): Promise<void> {
  const list = Object.entries(entries).map(([path, entry]) => ({ full: join(root, path), entry }));
  // Directories first, each once, then the leaves in parallel: a tree with
  // thousands of fd links is built in a fraction of the sequential time.
  const dirs = new Set(list.map(({ full, entry }) => (typeof entry !== 'string' && 'dir' in entry ? full : dirname(full))));
  for (const dir of dirs) await mkdir(dir, { recursive: true });
  await Promise.all(
    list.map(({ full, entry }) => {
      if (typeof entry === 'string') return writeFile(full, entry);
      if ('link' in entry) return symlink(entry.link, full);
      return undefined;
    }),
  );
}

export async function removeFixtureTree(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
}
