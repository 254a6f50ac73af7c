/**
 * Reads the V8 profiles `node --cpu-prof` writes (one per thread: the main
 * thread and each worker) and names the functions with the most self time,
 * so a benchmark can say where a process spent its CPU.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ThreadProfile {
  file: string;
  /** Seconds the thread was profiled, and of those not idle. */
  seconds: number;
  busySeconds: number;
  top: { fn: string; seconds: number }[];
}

function label(frame: ProfileNode['callFrame']): string {
  const where = frame.url === '' ? '' : ` ${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber + 1}`;
  return `${frame.functionName || '(anonymous)'}${where}`;
}

/** The `limit` functions with the most self time in each profile under `dir`. */
export async function summarizeProfiles(dir: string, limit = 8): Promise<ThreadProfile[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).sort();
  const out: ThreadProfile[] = [];
  for (const file of files) {
    const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as Profile;
    const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
    const self = new Map<string, number>();
    let total = 0;
    profile.samples.forEach((id, i) => {
      const micros = profile.timeDeltas[i] ?? 0;
      const frame = frames.get(id);
      total += micros;
      if (frame) self.set(label(frame), (self.get(label(frame)) ?? 0) + micros);
    });
    const idle = self.get('(idle)') ?? 0;
    self.delete('(idle)');
    const top = [...self]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([fn, micros]) => ({ fn, seconds: Math.round(micros / 1e4) / 100 }));
    out.push({ file, seconds: Math.round(total / 1e4) / 100, busySeconds: Math.round((total - idle) / 1e4) / 100, top });
  }
  return out;
}
