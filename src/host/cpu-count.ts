import { readHostFile } from './host-file.js';

// x86 and arm64 write `processor\t: 0`, s390x `processor 0: …`; both start a line
// with the lower-case word, while 32-bit ARM's model line is `Processor\t: …`.
const PROCESSOR_LINE = /^processor\b/gm;

export function countProcessors(cpuinfo: string): number | undefined {
  const count = cpuinfo.match(PROCESSOR_LINE)?.length ?? 0;
  return count === 0 ? undefined : count;
}

export async function collectCpuCount(root: string): Promise<number | undefined> {
  const text = await readHostFile(root, '/proc/cpuinfo');
  return text === undefined ? undefined : countProcessors(text);
}
