import { readHostFile } from './host-file.js';

export function parseMemTotal(meminfo: string): number | undefined {
  const match = /^MemTotal:\s+(\d+)\s*kB\s*$/m.exec(meminfo);
  // The kernel's "kB" is KiB.
  return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
}

export async function collectMemoryBytes(root: string): Promise<number | undefined> {
  const text = await readHostFile(root, '/proc/meminfo');
  return text === undefined ? undefined : parseMemTotal(text);
}
