#!/usr/bin/env node
import { existsSync } from 'node:fs';

const entry = new URL('../dist/bulwark.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('bulwark: dist/bulwark.js is missing; run `npm run build` (npm ci runs it for you)');
  process.exit(1);
}
await import(entry.href);
