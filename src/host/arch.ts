import { machine } from 'node:os';
import { isLiveRoot, readHostFile } from './host-file.js';

/**
 * `/proc/sys/kernel/arch` exists only on Linux 6.1 and later; on older kernels the
 * live host can still answer through uname(2), but a fixture tree cannot.
 */
export async function collectArch(root: string): Promise<string | undefined> {
  const text = await readHostFile(root, '/proc/sys/kernel/arch').catch(() => undefined);
  const arch = text?.trim();
  if (arch !== undefined && arch !== '') return arch;
  return isLiveRoot(root) ? machine() : undefined;
}
