// Bundles the CLI into dist/ so `npx bulwark` starts without a TypeScript loader.
// Dependencies stay external: they are installed beside it and some are native.
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';

await rm(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: { bulwark: 'src/cli/main.ts' },
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
