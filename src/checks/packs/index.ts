import { readFile } from 'node:fs/promises';
import { BulwarkError } from '../../core/errors.js';
import { parsePolicy, type Policy } from '../policy/index.js';

/** The policies that ship with Bulwark, by id; each is `<id>.yml` beside this module. */
export const BUILTIN_PACK_IDS: readonly string[] = ['linux-baseline'];

/**
 * Where a pack's YAML may live: beside this module when run from source (tsx),
 * or in `dist/packs/`, where the build copies `src/checks/packs/*.yml` — seen
 * from the bundle (`dist/`) or from one of its chunks (`dist/chunks/`).
 */
function candidateUrls(id: string): URL[] {
  return [new URL(`./${id}.yml`, import.meta.url), new URL(`./packs/${id}.yml`, import.meta.url), new URL(`../packs/${id}.yml`, import.meta.url)];
}

/** The YAML text of a built-in pack; throws NOT_FOUND for an unknown id. */
export async function builtinPackText(id: string): Promise<string> {
  if (!BUILTIN_PACK_IDS.includes(id)) {
    throw new BulwarkError('NOT_FOUND', `no built-in pack "${id}": the built-in packs are ${BUILTIN_PACK_IDS.join(', ')}`);
  }
  for (const url of candidateUrls(id)) {
    try {
      return await readFile(url, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  // A known id without its file is a broken installation, not a user's mistake.
  throw new BulwarkError('INTERNAL', `the built-in pack "${id}" is missing from this installation (looked for ${candidateUrls(id).map((u) => u.pathname).join(', ')})`);
}

const parsed = new Map<string, Promise<Policy>>();

/** A built-in pack, parsed once per process (callers must not change it). */
export function loadBuiltinPack(id: string): Promise<Policy> {
  let pack = parsed.get(id);
  if (!pack) {
    pack = builtinPackText(id).then((text) => parsePolicy(text, `${id}.yml`));
    // A failed load is not remembered: the next call tries again.
    pack.catch(() => parsed.delete(id));
    parsed.set(id, pack);
  }
  return pack;
}
