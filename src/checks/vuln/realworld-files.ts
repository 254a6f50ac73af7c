import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

/**
 * Test support: the real-world data files of `../shared/realworld` beside the
 * repository, read where they lie (their licences keep them out of the
 * repository). A test whose file is missing skips and says which file;
 * BULWARK_REALWORLD_DIR points elsewhere (or nowhere, to exercise the skips).
 */
const REALWORLD_DIR = process.env.BULWARK_REALWORLD_DIR ?? fileURLToPath(new URL('../../../../shared/realworld', import.meta.url));

/** The file's text, or undefined after marking the test skipped. */
export async function readRealworld(t: TestContext, relative: string): Promise<string | undefined> {
  const path = join(REALWORLD_DIR, relative);
  if (!existsSync(path)) {
    t.skip(`${path} is not present on this machine`);
    return undefined;
  }
  return readFile(path, 'utf8');
}

/** The names of a real-world folder's files ending in `suffix`, sorted; undefined after marking the test skipped. */
export async function listRealworld(t: TestContext, folder: string, suffix: string): Promise<string[] | undefined> {
  const path = join(REALWORLD_DIR, folder);
  if (!existsSync(path)) {
    t.skip(`${path} is not present on this machine`);
    return undefined;
  }
  return (await readdir(path)).filter((name) => name.endsWith(suffix)).sort();
}
