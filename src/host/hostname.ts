import { hostname as osHostname } from 'node:os';
import { isLiveRoot, readFirstHostFile } from './host-file.js';

/**
 * The kernel's idea of the host name wins over /etc/hostname, because the file
 * may have been edited without the running system picking it up.
 */
export async function collectHostname(root: string): Promise<string | undefined> {
  const text = await readFirstHostFile(root, ['/proc/sys/kernel/hostname', '/etc/hostname']);
  const name = text?.split('\n').map((line) => line.trim()).find((line) => line !== '' && !line.startsWith('#'));
  if (name !== undefined) return name;
  // Only the live host can answer through uname(2); a fixture tree has no kernel.
  return isLiveRoot(root) ? osHostname() : undefined;
}
