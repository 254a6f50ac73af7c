import type { NodeFacts } from '../protocol/facts.js';
import { isInstalledStatus, parseDeb822 } from './dpkg-status.js';
import { readHostFile } from './host-file.js';

export type PackageFacts = NonNullable<NodeFacts['packages']>;

/** Counts the installed packages of a dpkg status file (see `isInstalledStatus` for what counts). */
export function countInstalledDpkgPackages(text: string): number {
  return parseDeb822(text).filter((stanza) => isInstalledStatus(stanza.get('status'))).length;
}

export async function collectDpkgPackages(root: string): Promise<PackageFacts | undefined> {
  const text = await readHostFile(root, '/var/lib/dpkg/status');
  return text === undefined ? undefined : { manager: 'dpkg', count: countInstalledDpkgPackages(text) };
}
