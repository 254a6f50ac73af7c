// Runs every *.test.ts below the given folders with Node's own test runner.
// Node 20's --test takes no globs, so the files are listed here.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function find(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...find(path));
    else if (entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const args = process.argv.slice(2);
const dirs = args.filter((a) => !a.startsWith('--'));
const files = dirs.flatMap(find).sort();
if (files.length === 0) {
  console.error(`no test files found under ${dirs.join(', ')}`);
  process.exit(1);
}
const concurrency = process.env.BULWARK_TEST_CONCURRENCY ?? '2';
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=180000', ...args.filter((a) => a.startsWith('--')), ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
