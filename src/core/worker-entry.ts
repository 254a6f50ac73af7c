import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { BulwarkError } from './errors.js';

/**
 * Where a worker entry `name` may live, seen from the module at `base`: beside it
 * in the bundle (`dist/bulwark.js` and `dist/<name>.js`), one level up when that
 * module is in a chunk (`dist/chunks/*.js`), or the TypeScript source beside it
 * (run under tsx).
 */
export function workerCandidates(name: string, base: string | URL): URL[] {
  return [new URL(`./${name}.js`, base), new URL(`../${name}.js`, base), new URL(`./${name}.ts`, base)];
}

/** The first candidate that exists; INTERNAL when none does (a broken installation). */
export function findWorkerEntry(name: string, base: string | URL, exists: (path: string) => boolean = existsSync): URL {
  const candidates = workerCandidates(name, base);
  const found = candidates.find((url) => exists(fileURLToPath(url)));
  if (!found) throw new BulwarkError('INTERNAL', `the ${name} is missing from this installation (looked for ${candidates.map((u) => fileURLToPath(u)).join(', ')})`);
  return found;
}

/**
 * Starts a worker from its entry. From source the entry is TypeScript: Node 20
 * applies neither the parent's `--import tsx` nor its module hooks inside a
 * worker, so a small bootstrap registers tsx in the worker first.
 */
export function startWorker(entry: URL, options: WorkerOptions): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, options);
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}
