/**
 * Backup benchmark: Bulwark's stand-alone backup CLI against restic, on the
 * same data, in the same run.
 *
 *   npm run bench:backup [-- --scale 1 --runs 1 --data DIR --keep --tools bulwark,restic --cpu-prof DIR]
 *
 * The data set (bench/backup-data.ts) is generated from fixed seeds: at scale 1
 * 400 MiB incompressible, 400 MiB log-like text (zstd-3 ratio about 3) and
 * 20,000 small files of 1–8 KiB over 200 directories (~0.9 GiB). With --data
 * it is kept in DIR/base and reused by later invocations; each run backs up a
 * fresh copy of it, so the change below starts from the same tree every time.
 *
 * For each run, with each tool in turn (Bulwark first on odd runs, restic
 * first on even ones, so both see the same machine conditions), every step is
 * one process of the real CLI, timed by GNU time (wall, user+sys CPU, peak
 * RSS, worker threads included), with the page cache dropped before it:
 *   1. initial   backup into an empty repository
 *   2. change    backup after a deterministic ~5 % change (insertions,
 *                overwrites, appends, 1,000 small files modified, 500 added,
 *                200 deleted at scale 1)
 *   3. nochange  backup with nothing changed
 *   4. restore   of the latest snapshot into an empty directory; the restored
 *                tree is compared with the source (every path, size and
 *                SHA-256), so a restore cannot be fast by doing nothing
 *   5. check     with every pack read and verified (`check --read-data`)
 * The repository size (bytes of all its files) is taken after each backup.
 * restic runs with its defaults (repository version 2, compression auto) and
 * a cache directory of its own per run. With --cpu-prof DIR every Bulwark
 * process runs under `node --cpu-prof` (slower: compare figures of profiled
 * runs only with each other) and the functions with the most self time in
 * each thread are listed on stderr.
 *
 * Prints ONE JSON object on stdout: figures are medians over --runs, ratios
 * (Bulwark ÷ restic) the median of each run's own ratio, and the 1-minute load
 * average around the steps, since other work on a shared machine stretches
 * wall times. Progress goes to stderr.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { zstd } from '../src/backup/zstd-native.js';
import { summarizeProfiles } from './cpu-profile.js';
import { applyChange, compareTrees, digestTree, generate, shapeFor, type ChangeReport, type DataSetShape, type TreeDigest } from './backup-data.js';

const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: '1' },
    runs: { type: 'string', default: '1' },
    data: { type: 'string' },
    keep: { type: 'boolean', default: false },
    tools: { type: 'string', default: 'bulwark,restic' },
    'cpu-prof': { type: 'string' },
  },
});
const scale = Number(values.scale);
const runs = Number(values.runs);
if (!(scale > 0 && scale <= 4) || !(Number.isInteger(runs) && runs >= 1)) {
  process.stderr.write('bench:backup: --scale must be in (0, 4] and --runs a whole number ≥ 1\n');
  process.exit(2);
}

const run = promisify(execFile);
const MiB = 1024 * 1024;
const BULWARK_BIN = fileURLToPath(new URL('../bin/bulwark.js', import.meta.url));
const STEPS = ['initial', 'change', 'nochange', 'restore', 'check'] as const;
type Step = (typeof STEPS)[number];
type Tool = 'bulwark' | 'restic';
const PASSWORD = 'bench-backup-password';
const DATA_VERSION = 1;

interface Sample {
  wallS: number;
  /** user + sys */
  cpuS: number;
  sysS: number;
  rssMiB: number;
  repoMiB?: number;
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

let cacheDropped = true;
/** The highest 1-minute load average seen before a step: other work on the machine skews wall times. */
let maxLoad = 0;
async function dropCaches(): Promise<void> {
  try {
    await run('sync');
    await writeFile('/proc/sys/vm/drop_caches', '3\n');
  } catch {
    if (cacheDropped) log('warning: cannot drop the page cache (needs root); steps may read from a warm cache');
    cacheDropped = false;
  }
}

async function treeBytes(root: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  }
  return total;
}

/** Runs one CLI process under GNU time; returns its figures and stdout. */
async function timed(command: string, args: string[], env: NodeJS.ProcessEnv, scratch: string): Promise<Sample & { stdout: string }> {
  const timeFile = join(scratch, 'time.out');
  const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', timeFile, command, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`${basename(command)} ${args.join(' ')} exited with ${code}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
  const last = (await readFile(timeFile, 'utf8')).trim().split('\n').pop() ?? '';
  const [wall, user, sys, maxKiB] = last.split(' ').map(Number);
  if ([wall, user, sys, maxKiB].some((n) => n === undefined || !Number.isFinite(n))) throw new Error(`cannot read GNU time output: ${last}`);
  return { wallS: wall as number, cpuS: round((user as number) + (sys as number)), sysS: sys as number, rssMiB: round((maxKiB as number) / 1024, 1), stdout };
}

interface ToolRunner {
  readonly tool: Tool;
  init(): Promise<void>;
  step(step: Step, source: string, target: string): Promise<Sample & { stdout: string }>;
  repoBytes(): Promise<number>;
}

function bulwarkRunner(repo: string, scratch: string, profDir: string | undefined): ToolRunner {
  const env: NodeJS.ProcessEnv = { ...process.env, BULWARK_BACKUP_REPO: repo, BULWARK_BACKUP_PASSWORD: PASSWORD };
  delete env.BULWARK_BACKUP_PASSWORD_FILE;
  const cli = (step: string, args: string[]): Promise<Sample & { stdout: string }> => {
    const prof = profDir ? ['--cpu-prof', '--cpu-prof-dir', join(profDir, step)] : [];
    return timed(process.execPath, [...prof, BULWARK_BIN, 'backup', ...args], env, scratch);
  };
  return {
    tool: 'bulwark',
    init: async () => void (await cli('init', ['init', '--json'])),
    step: (step, source, target) => {
      switch (step) {
        case 'initial':
        case 'change':
        case 'nochange':
          return cli(step, ['run', source, '--json']);
        case 'restore':
          return cli(step, ['restore', 'latest', '--target', target, '--json']);
        case 'check':
          return cli(step, ['check', '--read-data', '--json']);
      }
    },
    repoBytes: () => treeBytes(repo),
  };
}

function resticRunner(repo: string, scratch: string): ToolRunner {
  const env: NodeJS.ProcessEnv = { ...process.env, RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: PASSWORD };
  const cache = ['--cache-dir', join(scratch, 'restic-cache')];
  const cli = (args: string[]): Promise<Sample & { stdout: string }> => timed('restic', [...cache, ...args], env, scratch);
  return {
    tool: 'restic',
    init: async () => void (await cli(['init', '--repository-version', '2'])),
    step: (step, source, target) => {
      switch (step) {
        case 'initial':
        case 'change':
        case 'nochange':
          return cli(['backup', source, '--json', '--quiet']);
        case 'restore':
          return cli(['restore', 'latest', '--target', target]);
        case 'check':
          return cli(['check', '--read-data']);
      }
    },
    repoBytes: () => treeBytes(repo),
  };
}

/** Where a tool put the restored source: restic drops the common parent path, others may keep it whole. */
function restoredRoot(target: string, source: string): string {
  for (const candidate of [join(target, source), join(target, basename(source))]) if (existsSync(candidate)) return candidate;
  return target;
}

interface DataSet {
  base: string;
  shape: DataSetShape;
  bytes: number;
  files: number;
  logZstd3Ratio: number;
}

async function prepareData(root: string): Promise<DataSet> {
  const shape = shapeFor(scale);
  const base = join(root, 'base');
  const marker = join(root, 'base.complete.json');
  const want = JSON.stringify({ version: DATA_VERSION, scale });
  const have = await readFile(marker, 'utf8').catch(() => '');
  if (have.trim() !== want) {
    log(`generating the data set (scale ${scale}) in ${base}`);
    const started = performance.now();
    await rm(marker, { force: true });
    await rm(base, { recursive: true, force: true });
    await generate(base, shape);
    await writeFile(marker, `${want}\n`);
    log(`generated in ${round((performance.now() - started) / 1000, 1)} s`);
  } else log(`reusing the data set in ${base}`);
  const digest = await digestTree(base);
  // The compressible part should compress about as well as real logs (zstd-3 ≈ 3).
  const sample = (await readFile(join(base, 'logs', 'service-0.log'))).subarray(0, 8 * MiB);
  const frame = Buffer.alloc(zstd.compressBound(sample.length));
  const logZstd3Ratio = round(sample.length / new zstd.CCtx().compress(frame, sample, 3));
  return { base, shape, bytes: digest.bytes, files: digest.files.size, logZstd3Ratio };
}

type RunResult = Record<Tool, Partial<Record<Step, Sample>>>;

interface RunOutcome {
  result: RunResult;
  change: ChangeReport;
  after: { bytes: number; files: number };
  restoreProblems: Partial<Record<Tool, string[]>>;
  bulwarkSummaries: Partial<Record<Step, unknown>>;
}

async function oneRun(index: number, data: DataSet, workRoot: string, tools: readonly Tool[], profDir: string | undefined): Promise<RunOutcome> {
  const dir = join(workRoot, `run-${index}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const source = join(dir, 'src');
  await run('cp', ['-a', data.base, source]);
  const runners: Record<Tool, ToolRunner> = {
    bulwark: bulwarkRunner(join(dir, 'bulwark-repo'), dir, profDir ? join(profDir, `run-${index}`) : undefined),
    restic: resticRunner(join(dir, 'restic-repo'), dir),
  };
  const order = index % 2 === 1 ? tools : [...tools].reverse();
  const result: RunResult = { bulwark: {}, restic: {} };
  const restoreProblems: Partial<Record<Tool, string[]>> = {};
  const bulwarkSummaries: Partial<Record<Step, unknown>> = {};
  for (const tool of order) await runners[tool].init();
  let change: ChangeReport | undefined;
  let expected: TreeDigest | undefined;
  for (const step of STEPS) {
    if (step === 'change') {
      change = await applyChange(source, data.shape, scale);
      log(`run ${index}: changed ${round(change.bytesWritten / MiB, 1)} MiB (${JSON.stringify(change)})`);
    }
    if (step === 'restore') expected = await digestTree(source);
    for (const tool of order) {
      const target = join(dir, `${tool}-restore`);
      await dropCaches();
      maxLoad = Math.max(maxLoad, loadavg()[0] ?? 0);
      const sample = await runners[tool].step(step, source, target);
      const entry: Sample = { wallS: sample.wallS, cpuS: sample.cpuS, sysS: sample.sysS, rssMiB: sample.rssMiB };
      if (step === 'initial' || step === 'change' || step === 'nochange') entry.repoMiB = round((await runners[tool].repoBytes()) / MiB, 1);
      if (tool === 'bulwark' && sample.stdout.trim() !== '') {
        try {
          bulwarkSummaries[step] = JSON.parse(sample.stdout) as unknown;
        } catch {
          bulwarkSummaries[step] = sample.stdout.trim().slice(0, 500);
        }
      }
      if (step === 'restore' && expected) {
        const restored = await digestTree(restoredRoot(target, source));
        restoreProblems[tool] = compareTrees(expected, restored);
        await rm(target, { recursive: true, force: true });
      }
      result[tool][step] = entry;
      const problems = restoreProblems[tool] ?? [];
      const verdict = problems.length === 0 ? 'equals the source' : `DIFFERS in ${problems.length} places: ${problems.slice(0, 10).join('; ')}`;
      log(`run ${index}: ${tool} ${step}: ${JSON.stringify(entry)}${step === 'restore' ? `; restored tree ${verdict}` : ''}`);
      if (tool === 'bulwark' && profDir) {
        for (const t of await summarizeProfiles(join(profDir, `run-${index}`, step))) {
          log(`  profile ${t.file}: ${t.busySeconds} s busy of ${t.seconds} s; ${t.top.map((f) => `${f.fn} ${f.seconds} s`).join(', ')}`);
        }
      }
    }
  }
  if (!change || !expected) throw new Error('unreachable: the change and restore steps always run');
  return { result, change, after: { bytes: expected.bytes, files: expected.files.size }, restoreProblems, bulwarkSummaries };
}

function medianOf(outcomes: RunOutcome[], tool: Tool): Record<Step, Sample> {
  const out = {} as Record<Step, Sample>;
  for (const step of STEPS) {
    const samples = outcomes.map((o) => o.result[tool][step]).filter((s): s is Sample => s !== undefined);
    const m: Sample = {
      wallS: round(median(samples.map((s) => s.wallS))),
      cpuS: round(median(samples.map((s) => s.cpuS))),
      sysS: round(median(samples.map((s) => s.sysS))),
      rssMiB: round(median(samples.map((s) => s.rssMiB)), 1),
    };
    if (samples.every((s) => s.repoMiB !== undefined)) m.repoMiB = round(median(samples.map((s) => s.repoMiB as number)), 1);
    out[step] = m;
  }
  return out;
}

async function resticVersion(): Promise<string | null> {
  try {
    return (await run('restic', ['version'])).stdout.trim();
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const wanted = new Set(values.tools.split(','));
  const restic = wanted.has('restic') ? await resticVersion() : null;
  if (!restic && wanted.has('restic')) log('restic is not on PATH: measuring Bulwark alone');
  const tools = (['bulwark', 'restic'] as const).filter((t) => wanted.has(t) && (t !== 'restic' || restic));
  if (tools.length === 0) throw new Error('nothing to measure: --tools takes bulwark, restic or both');
  const temp = await mkdtemp(join(values.data ? dirname(values.data) : tmpdir(), 'bulwark-bench-backup-'));
  const dataRoot = values.data ?? join(temp, 'data');
  try {
    await mkdir(dataRoot, { recursive: true });
    const data = await prepareData(dataRoot);
    log(`data set: ${round(data.bytes / MiB, 1)} MiB in ${data.files} files; log zstd-3 ratio ${data.logZstd3Ratio}`);
    const loadBefore = loadavg()[0] ?? 0;
    const outcomes: RunOutcome[] = [];
    for (let i = 1; i <= runs; i++) outcomes.push(await oneRun(i, data, temp, tools, values['cpu-prof']));
    const last = outcomes[outcomes.length - 1] as RunOutcome;

    const bulwark = tools.includes('bulwark') ? medianOf(outcomes, 'bulwark') : null;
    const resticFigures = restic ? medianOf(outcomes, 'restic') : null;
    const verified = (tool: Tool): boolean => outcomes.every((o) => o.restoreProblems[tool]?.length === 0);
    const targets = { initialWall: 0.7, otherWall: 1.0, rss: 1.0, repoSize: 1.05 };
    let ratios: Record<string, unknown> | null = null;
    let met: Record<string, boolean> | null = null;
    if (bulwark && resticFigures) {
      // Ratios are taken within each run (the two tools ran side by side) and then the median over runs:
      // on a shared machine that cancels more noise than a ratio of two medians.
      const paired = (step: Step, key: 'wallS' | 'cpuS' | 'rssMiB' | 'repoMiB'): number =>
        round(median(outcomes.map((o) => (o.result.bulwark[step]?.[key] ?? NaN) / (o.result.restic[step]?.[key] ?? NaN))));
      const perStep = Object.fromEntries(STEPS.map((s) => [s, { wall: paired(s, 'wallS'), cpu: paired(s, 'cpuS'), rss: paired(s, 'rssMiB') }])) as Record<
        Step,
        { wall: number; cpu: number; rss: number }
      >;
      const repoSize = paired('nochange', 'repoMiB');
      ratios = { ...perStep, repoSize };
      met = {
        initialWall: perStep.initial.wall <= targets.initialWall,
        changeWall: perStep.change.wall <= targets.otherWall,
        nochangeWall: perStep.nochange.wall <= targets.otherWall,
        restoreWall: perStep.restore.wall <= targets.otherWall,
        checkWall: perStep.check.wall <= targets.otherWall,
        rss: STEPS.every((s) => perStep[s].rss <= targets.rss),
        repoSize: repoSize <= targets.repoSize,
        bulwarkRestoreVerified: verified('bulwark'),
      };
    }
    process.stdout.write(
      `${JSON.stringify({
        benchmark: 'backup',
        scale,
        dataset: {
          bytes: data.bytes,
          mib: round(data.bytes / MiB, 1),
          files: data.files,
          incompressibleMiB: round((data.shape.randomFiles * data.shape.randomFileBytes) / MiB, 1),
          logMiB: round((data.shape.logFiles * data.shape.logFileBytes) / MiB, 1),
          smallFiles: data.shape.smallFiles,
          smallDirs: data.shape.smallDirs,
          logZstd3Ratio: data.logZstd3Ratio,
          change: { ...last.change, mib: round(last.change.bytesWritten / MiB, 1), share: round(last.change.bytesWritten / data.bytes, 3) },
          afterChange: last.after,
        },
        cacheDropped,
        runs,
        machine: { cpus: availableParallelism(), loadAvg1mBefore: round(loadBefore), loadAvg1mAfter: round(loadavg()[0] ?? 0), loadAvg1mMaxAtSteps: round(maxLoad) },
        node: process.version,
        resticVersion: restic,
        profiled: values['cpu-prof'] !== undefined,
        bulwark: bulwark ? { ...bulwark, restoreVerified: verified('bulwark'), restoreProblems: last.restoreProblems.bulwark?.slice(0, 10) ?? [] } : null,
        restic: resticFigures ? { ...resticFigures, restoreVerified: verified('restic') } : null,
        ratios,
        targets,
        met,
        bulwarkSummaries: last.bulwarkSummaries,
      })}\n`,
    );
  } finally {
    if (values.keep) log(`kept ${temp}${values.data ? ` and ${dataRoot}` : ''}`);
    else await rm(temp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:backup failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
