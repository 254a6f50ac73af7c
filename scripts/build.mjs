// Bundles the CLI into dist/ so `npx bulwark` starts without a TypeScript loader.
// Dependencies stay external: they are installed beside it and some are native.
import { build } from 'esbuild';
import { cp, mkdir, readdir, rm } from 'node:fs/promises';

await rm(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  // Audits and backups run in worker threads started from dist/audit-worker.js, dist/backup-worker.js and
  // dist/read-ahead-worker.js (src/core/worker-entry.ts finds them beside the bundle or one level up from a chunk).
  entryPoints: { bulwark: 'src/cli/main.ts', 'audit-worker': 'src/agent/audit-worker.ts', 'backup-worker': 'src/backup/backup-worker.ts', 'read-ahead-worker': 'src/backup/read-ahead-worker.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  // Commands load their heavy parts (server, agent) on use, so `bulwark nodes ls` starts fast.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: true,
  logLevel: 'warning',
});

// Built-in audit packs are YAML read at run time: they ship beside the bundle.
const packs = new URL('../src/checks/packs/', import.meta.url);
await mkdir(new URL('../dist/packs/', import.meta.url), { recursive: true });
for (const file of (await readdir(packs)).filter((f) => f.endsWith('.yml'))) {
  await cp(new URL(file, packs), new URL(`../dist/packs/${file}`, import.meta.url));
}
