/**
 * Fleet benchmark driver.
 *
 *   npm run bench:fleet -- --agents 2000 --duration 60 [--heartbeat-interval 10s] [--db postgres://…]
 *
 * Starts a real control plane in one child process (bench/fleet-server.ts), creates
 * a join token with N uses through the API, then starts N simulated agents in a
 * second child process (bench/fleet-load.ts) that join over the agent port and hold
 * one mutual-TLS WebSocket each, heartbeating. Once all are connected it measures a
 * window of --duration seconds: heartbeat round trips seen by the agents, and the
 * server's CPU (utime+stime from /proc) and peak RSS (VmHWM). Prints ONE JSON object
 * on stdout; progress goes to stderr. Exits non-zero only when the harness itself
 * fails, never because a figure missed a target.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseDuration } from '../src/core/duration.js';

const here = dirname(fileURLToPath(import.meta.url));

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '100' },
    duration: { type: 'string', default: '60' },
    'heartbeat-interval': { type: 'string', default: '10s' },
    db: { type: 'string' },
    'join-concurrency': { type: 'string', default: '32' },
    'connect-concurrency': { type: 'string', default: '64' },
    /** full: each agent fetches and pins the CA itself, as `bulwark agent join` does; lean: one fetch shared by all. */
    'join-mode': { type: 'string', default: 'full' },
    /** Directory for a V8 CPU profile of the server (node --cpu-prof). */
    'server-cpu-prof': { type: 'string' },
    /** Print per-statement SQLite time of the server on stderr at its exit. */
    'sql-stats': { type: 'boolean', default: false },
    'keep-data': { type: 'boolean', default: false },
  },
});

const agents = Number(values.agents);
const durationS = Number(values.duration);
const heartbeatIntervalMs = /^\d+$/.test(values['heartbeat-interval'] ?? '') ? Number(values['heartbeat-interval']) * 1000 : parseDuration(values['heartbeat-interval'] ?? '10s');
if (!Number.isInteger(agents) || agents <= 0 || !(durationS > 0)) {
  console.error('usage: npm run bench:fleet -- --agents N --duration SECONDS [--heartbeat-interval 10s] [--db postgres://…]');
  process.exit(2);
}

function log(message: string): void {
  process.stderr.write(`[fleet] ${message}\n`);
}

// ---------------------------------------------------------------- /proc sampling

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function statusKiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match ? Number(match[1]) : 0;
}

function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

// ---------------------------------------------------------------- API calls

function apiCall<T>(baseUrl: string, ca: string, bearer: string, method: string, path: string, body?: object): Promise<{ status: number; json: T }> {
  const url = new URL(path, baseUrl);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca,
        agent: false,
        timeout: 60_000,
        headers: {
          authorization: `Bearer ${bearer}`,
          accept: 'application/json',
          ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as T });
          } catch {
            reject(new Error(`${method} ${path}: HTTP ${res.statusCode ?? '?'} with no JSON: ${text.slice(0, 200)}`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

// ---------------------------------------------------------------- children

interface ServerInfo {
  apiUrl: string;
  agentUrl: string;
  caPin: string;
  adminToken: string;
  pid: number;
  dataDir: string;
}

function startServer(dataDir: string): Promise<{ child: ChildProcess; info: ServerInfo }> {
  const prof = values['server-cpu-prof'];
  const child = spawn(
    process.execPath,
    [
      ...(prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : []),
      '--import',
      'tsx',
      join(here, 'fleet-server.ts'),
      '--data-dir',
      dataDir,
      '--heartbeat-interval-ms',
      String(heartbeatIntervalMs),
      ...(values.db ? ['--db', values.db] : []),
      ...(values['sql-stats'] ? ['--sql-stats'] : []),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const onExit = (code: number | null): void => reject(new Error(`server exited (${code ?? 'signal'}) before it was ready`));
    child.once('exit', onExit);
    child.once('error', reject);
    lines.once('line', (line) => {
      child.off('exit', onExit);
      try {
        resolve({ child, info: JSON.parse(line) as ServerInfo });
      } catch {
        reject(new Error(`server printed something other than its JSON line: ${line}`));
      }
    });
  });
}

type LoadMessage =
  | { type: 'phase'; phase: string }
  | { type: 'ready'; joinMode: string; join: PhaseStats; connect: PhaseStats }
  | { type: 'result'; [key: string]: unknown }
  | { type: 'fatal'; message: string };

interface PhaseStats {
  wallS: number;
  ok: number;
  ratePerS: number;
  latencyMs: { p50: number | null; p90: number | null; p99: number | null; max: number | null; mean: number | null };
}

interface LoadResult {
  type: 'result';
  steadyS: number;
  connected: number;
  heartbeats: Record<'steady' | 'ramp', { sent: number; acked: number; lateAcks: number; timeouts: number; rttMs: PhaseStats['latencyMs'] }>;
  loadgenEventLoopDelayMs: { p50: number; p99: number; max: number };
  errors: { join: number; connect: number; disconnects: number; heartbeatTimeouts: number };
  errorSamples: Record<string, string[]>;
  loadgenPeakRssMiB: number;
}

function nextMessage<T extends LoadMessage['type']>(child: ChildProcess, type: T, onOther: (m: LoadMessage) => void, timeoutMs: number): Promise<Extract<LoadMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`load generator sent no "${type}" within ${timeoutMs / 1000} s`)), timeoutMs);
    const onMessage = (m: LoadMessage): void => {
      if (m.type === type) done(undefined, m as Extract<LoadMessage, { type: T }>);
      else if (m.type === 'fatal') done(new Error(`load generator failed: ${m.message}`));
      else onOther(m);
    };
    const onExit = (code: number | null): void => done(new Error(`load generator exited (${code ?? 'signal'}) while waiting for "${type}"`));
    function done(err?: Error, m?: Extract<LoadMessage, { type: T }>): void {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(m!);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const fdLimit = Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  if (Number.isFinite(fdLimit) && fdLimit < 2 * agents + 100) {
    log(`WARNING: ulimit -n is ${fdLimit}, below 2*N+100 = ${2 * agents + 100}; connections will fail with EMFILE. Raise it in the shell (ulimit -n ${2 * agents + 100}) before running.`);
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'bulwark-fleet-'));
  log(`agents=${agents} duration=${durationS}s heartbeat=${heartbeatIntervalMs}ms db=${values.db ?? 'sqlite'} data=${dataDir} CLK_TCK=${CLK_TCK} ulimit-n=${fdLimit}`);
  const { child: server, info } = await startServer(dataDir);
  let load: ChildProcess | undefined;
  try {
    log(`server pid ${info.pid}: api ${info.apiUrl} agent ${info.agentUrl}`);
    const ca = await readFile(join(dataDir, 'ca.pem'), 'utf8');
    const created = await apiCall<{ token?: string; error?: { message: string } }>(info.apiUrl, ca, info.adminToken, 'POST', '/v1/join-tokens', {
      uses: agents,
      ttlSeconds: 3600,
      labels: { bench: 'fleet' },
      description: 'fleet benchmark',
    });
    if (created.status !== 201 || !created.json.token) throw new Error(`creating the join token failed: HTTP ${created.status} ${JSON.stringify(created.json)}`);

    const phaseCpu: Record<string, { at: number; server: number; load: number }> = {};
    const mark = (name: string): void => {
      phaseCpu[name] = { at: performance.now(), server: cpuSeconds(info.pid), load: load?.pid ? cpuSeconds(load.pid) : 0 };
    };
    const between = (a: string, b: string): { wallS: number; serverCpuS: number; loadgenCpuS: number } => {
      const x = phaseCpu[a]!;
      const y = phaseCpu[b]!;
      return { wallS: round((y.at - x.at) / 1000), serverCpuS: round(y.server - x.server), loadgenCpuS: round(y.load - x.load) };
    };

    load = fork(
      join(here, 'fleet-load.ts'),
      [
        '--agent-url',
        info.agentUrl,
        '--ca-pin',
        info.caPin,
        '--token',
        created.json.token,
        '--agents',
        String(agents),
        '--heartbeat-interval-ms',
        String(heartbeatIntervalMs),
        '--join-concurrency',
        values['join-concurrency'] ?? '32',
        '--connect-concurrency',
        values['connect-concurrency'] ?? '64',
        '--join-mode',
        values['join-mode'] ?? 'full',
      ],
      { execArgv: ['--import', 'tsx'], stdio: ['ignore', 2, 2, 'ipc'] },
    );
    const loadChild = load;
    const onPhase = (m: LoadMessage): void => {
      if (m.type === 'phase') mark(m.phase);
    };
    const rampTimeoutMs = Math.max(120_000, agents * 200);
    const ready = await nextMessage(loadChild, 'ready', onPhase, rampTimeoutMs);
    mark('ready');
    log(`ready: join ${JSON.stringify(ready.join)} connect ${JSON.stringify(ready.connect)}`);

    // The measured window: all agents connected, heartbeating at the interval.
    loadChild.send({ cmd: 'start' });
    mark('steady');
    const perSecond: number[] = [];
    let last = { at: performance.now(), cpu: cpuSeconds(info.pid) };
    const sampler = setInterval(() => {
      const now = { at: performance.now(), cpu: cpuSeconds(info.pid) };
      perSecond.push((100 * (now.cpu - last.cpu)) / ((now.at - last.at) / 1000));
      last = now;
    }, 1000);
    const progress = setInterval(() => log(`steady ${Math.round((performance.now() - phaseCpu.steady!.at) / 1000)}/${durationS} s`), 10_000);
    await new Promise((r) => setTimeout(r, durationS * 1000));
    clearInterval(sampler);
    clearInterval(progress);
    mark('steadyEnd');
    const resultPromise = nextMessage(loadChild, 'result', () => {}, heartbeatIntervalMs + 30_000);
    loadChild.send({ cmd: 'stop' });
    const result = (await resultPromise) as unknown as LoadResult;

    const nodes = await apiCall<{ nodes: { state: string; connected: boolean; lastSeenAt: number | null }[] }>(info.apiUrl, ca, info.adminToken, 'GET', '/v1/nodes');
    if (nodes.status !== 200) throw new Error(`GET /v1/nodes failed: HTTP ${nodes.status}`);
    const nodeStates: Record<string, number> = {};
    let nodesConnected = 0;
    let staleLastSeen = 0;
    const staleBefore = Date.now() - heartbeatIntervalMs - 5_000;
    for (const node of nodes.json.nodes) {
      nodeStates[node.state] = (nodeStates[node.state] ?? 0) + 1;
      if (node.connected) nodesConnected += 1;
      if (node.lastSeenAt === null || node.lastSeenAt < staleBefore) staleLastSeen += 1;
    }

    const serverPeakRssMiB = round(statusKiB(info.pid, 'VmHWM') / 1024, 1);
    const serverRssMiB = round(statusKiB(info.pid, 'VmRSS') / 1024, 1);
    const loadgenPeakRssMiB = round(statusKiB(loadChild.pid!, 'VmHWM') / 1024, 1);
    const steady = between('steady', 'steadyEnd');
    const hb = result.heartbeats.steady;
    const sortedSeconds = [...perSecond].sort((a, b) => a - b);
    const output = {
      agents,
      durationS: steady.wallS,
      heartbeatIntervalMs,
      db: values.db ? 'postgres' : 'sqlite',
      joinMode: ready.joinMode,
      joinRatePerS: ready.join.ratePerS,
      joinP50Ms: ready.join.latencyMs.p50,
      joinP99Ms: ready.join.latencyMs.p99,
      connectRatePerS: ready.connect.ratePerS,
      connectP50Ms: ready.connect.latencyMs.p50,
      connectP99Ms: ready.connect.latencyMs.p99,
      connected: result.connected,
      heartbeats: hb.acked,
      heartbeatsSent: hb.sent,
      heartbeatsAcked: hb.acked,
      heartbeatsUnaccounted: hb.sent - hb.acked - hb.timeouts,
      heartbeatRttP50Ms: hb.rttMs.p50,
      heartbeatRttP90Ms: hb.rttMs.p90,
      heartbeatRttP99Ms: hb.rttMs.p99,
      heartbeatRttMaxMs: hb.rttMs.max,
      serverCpuSeconds: steady.serverCpuS,
      serverCpuPercentAvg: round((100 * steady.serverCpuS) / steady.wallS, 1),
      serverCpuPercentMax1s: sortedSeconds.length ? round(sortedSeconds[sortedSeconds.length - 1]!, 1) : null,
      serverPeakRssMiB,
      serverRssMiBAtEnd: serverRssMiB,
      loadgenCpuSeconds: steady.loadgenCpuS,
      loadgenPeakRssMiB,
      loadgenEventLoopDelayMs: result.loadgenEventLoopDelayMs,
      errors: result.errors,
      nodeStates,
      nodesConnected,
      nodesWithStaleLastSeen: staleLastSeen,
      ramp: {
        keygen: between('keygen', 'join'),
        join: { ...between('join', 'connect'), ok: ready.join.ok, latencyMs: ready.join.latencyMs },
        connect: { ...between('connect', 'ready'), ok: ready.connect.ok, latencyMs: ready.connect.latencyMs },
        heartbeats: result.heartbeats.ramp,
      },
      ...(Object.values(result.errorSamples).some((s) => s.length > 0) ? { errorSamples: result.errorSamples } : {}),
      node: process.version,
    };
    process.stdout.write(`${JSON.stringify(output)}\n`);
  } finally {
    if (load && load.exitCode === null) {
      load.send?.({ cmd: 'exit' });
      await waitExit(load, 10_000);
    }
    server.kill('SIGTERM');
    await waitExit(server, 20_000);
    if (!values['keep-data']) await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`[fleet] harness failure: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
