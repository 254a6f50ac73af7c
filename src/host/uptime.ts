import { readHostFile } from './host-file.js';

export function parseUptime(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)/.exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

export async function collectUptimeSeconds(root: string): Promise<number | undefined> {
  const text = await readHostFile(root, '/proc/uptime');
  return text === undefined ? undefined : parseUptime(text);
}
