import type { NodeFacts } from '../../protocol/facts.js';
import { readHostFile } from './host-file.js';

export type PackageFacts = NonNullable<NodeFacts['packages']>;

/**
 * Counts the installed packages of a dpkg status file: RFC 822-like stanzas
 * separated by blank lines, continuation lines starting with a space or tab.
 * A package counts when the third word of `Status:` (the package state) is
 * `installed`, whatever the selection: `hold ok installed` and
 * `deinstall ok installed` packages are still on disk, as `dpkg -l` shows them
 * with an `i` in the second column; `config-files`, `half-installed` and the
 * like are not.
 */
export function countInstalledDpkgPackages(text: string): number {
  let count = 0;
  let installed = false;
  let inStanza = false;
  const finish = (): void => {
    if (inStanza && installed) count++;
    inStanza = false;
    installed = false;
  };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') {
      finish();
      continue;
    }
    inStanza = true;
    if (line.startsWith(' ') || line.startsWith('\t')) continue;
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    // Field names are case-insensitive in deb822.
    if (line.slice(0, colon).trim().toLowerCase() !== 'status') continue;
    const words = line.slice(colon + 1).trim().split(/\s+/);
    installed = words.length === 3 && words[2] === 'installed';
  }
  finish();
  return count;
}

export async function collectDpkgPackages(root: string): Promise<PackageFacts | undefined> {
  const text = await readHostFile(root, '/var/lib/dpkg/status');
  return text === undefined ? undefined : { manager: 'dpkg', count: countInstalledDpkgPackages(text) };
}
