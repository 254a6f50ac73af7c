import { readHostFile } from './host-file.js';

export async function collectKernel(root: string): Promise<string | undefined> {
  const text = await readHostFile(root, '/proc/sys/kernel/osrelease');
  const release = text?.trim();
  return release === '' ? undefined : release;
}
