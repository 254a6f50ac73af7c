/**
 * Load generator of the fleet benchmark: N lightweight simulated agents in one
 * process, each with its own P-256 key, its own certificate and its own mutual-TLS
 * WebSocket. Driven by bench/fleet.ts over the fork IPC channel:
 *
 *   load → driver  {type:'phase', phase}         at each phase boundary
 *   load → driver  {type:'ready', ...stats}      all joins and connects done
 *   driver → load  {cmd:'start'}                 the measured window begins
 *   driver → load  {cmd:'stop'}                  the window ends; load answers {type:'result'}
 *   driver → load  {cmd:'exit'}                  close every socket and exit
 *
 * A simulated agent speaks the real protocol (src/protocol/agent.ts) but skips
 * what is not load on the server: no facts, no renewal, no identity files.
 */
import { performance, monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { VERSION } from '../src/core/version.js';
import { fetchPinnedCa, parseServerUrl, postJoin } from '../src/agent/join.js';
import { createCsr } from '../src/pki/csr.js';
import { pinMatches } from '../src/pki/pin.js';
import { AGENT_CONNECT_PATH, MAX_AGENT_MESSAGE_BYTES, SUPPORTED_PROTOCOL_VERSIONS } from '../src/protocol/agent.js';

const { values } = parseArgs({
  options: {
    'agent-url': { type: 'string' },
    'ca-pin': { type: 'string' },
    token: { type: 'string' },
    agents: { type: 'string' },
    'heartbeat-interval-ms': { type: 'string', default: '10000' },
    'heartbeat-timeout-ms': { type: 'string' },
    'join-concurrency': { type: 'string', default: '32' },
    'connect-concurrency': { type: 'string', default: '64' },
    'join-mode': { type: 'string', default: 'full' },
  },
});

const agentUrl = values['agent-url'] ?? '';
const caPin = values['ca-pin'] ?? '';
const token = values.token ?? '';
const agentCount = Number(values.agents);
const heartbeatIntervalMs = Number(values['heartbeat-interval-ms']);
const heartbeatTimeoutMs = Number(values['heartbeat-timeout-ms'] ?? Math.min(heartbeatIntervalMs, 10_000));
const joinConcurrency = Number(values['join-concurrency']);
const connectConcurrency = Number(values['connect-concurrency']);
const joinMode = values['join-mode'] === 'lean' ? 'lean' : 'full';
if (!agentUrl || !caPin || !token || !(agentCount > 0)) {
  console.error('fleet-load: --agent-url, --ca-pin, --token and --agents are required');
  process.exit(2);
}
const { host, port } = parseServerUrl(agentUrl);
const REQUEST_TIMEOUT_MS = 30_000;
const MAX_ERROR_SAMPLES = 5;

type Phase = 'ramp' | 'steady' | 'drain';

interface HeartbeatStats {
  sent: number;
  acked: number;
  lateAcks: number;
  timeouts: number;
  rtts: number[];
}

const newStats = (): HeartbeatStats => ({ sent: 0, acked: 0, lateAcks: 0, timeouts: 0, rtts: [] });
const stats: Record<'ramp' | 'steady', HeartbeatStats> = { ramp: newStats(), steady: newStats() };
let phase: Phase = 'ramp';
let stopping = false;

const errors = { join: 0, connect: 0, disconnects: 0, heartbeatTimeouts: 0 };
const errorSamples: Record<string, string[]> = { join: [], connect: [], disconnects: [] };
function noteError(kind: 'join' | 'connect' | 'disconnects', message: string): void {
  errors[kind] += 1;
  const samples = errorSamples[kind] ?? [];
  if (samples.length < MAX_ERROR_SAMPLES) samples.push(message);
  errorSamples[kind] = samples;
}

interface SimAgent {
  index: number;
  csrPem: string;
  keyPem: string;
  certPem?: string;
  nodeId?: string;
  ws?: WebSocket;
  seq: number;
  /** seq → [performance.now() at send, stats bucket] */
  pending: Map<number, { at: number; bucket: HeartbeatStats }>;
  timer?: NodeJS.Timeout;
  open: boolean;
}

function send(msg: object): void {
  process.send?.(msg);
}

function log(message: string): void {
  process.stderr.write(`[fleet-load] ${message}\n`);
}

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return round(sorted[i] as number);
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

function summarize(samples: readonly number[]): { p50: number | null; p90: number | null; p99: number | null; max: number | null; mean: number | null } {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? round(sorted[sorted.length - 1] as number) : null,
    mean: sorted.length ? round(sorted.reduce((a, b) => a + b, 0) / sorted.length) : null,
  };
}

const agents: SimAgent[] = [];
let sharedCaPem: string | undefined;

async function generateKeys(): Promise<void> {
  const started = performance.now();
  const indexes = Array.from({ length: agentCount }, (_, i) => i);
  await pool(indexes, 16, async (index) => {
    const { csrPem, keyPem } = await createCsr({ commonName: `bench-node-${index}` });
    agents[index] = { index, csrPem, keyPem, seq: 0, pending: new Map(), open: false };
  });
  log(`generated ${agentCount} P-256 keys and CSRs in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

const joinLatencies: number[] = [];
async function joinAll(): Promise<{ wallS: number; ok: number }> {
  if (joinMode === 'lean') sharedCaPem = await fetchPinnedCa(agentUrl, caPin);
  const started = performance.now();
  let done = 0;
  await pool(agents, joinConcurrency, async (agent) => {
    const t0 = performance.now();
    try {
      // A real `bulwark agent join` fetches the CA and checks the pin first: one extra TLS handshake.
      const caPem = sharedCaPem ?? (await fetchPinnedCa(agentUrl, caPin));
      const res = await postJoin(agentUrl, caPem, { token, csr: agent.csrPem, hostname: `bench-node-${agent.index}`, agentVersion: VERSION });
      if (!pinMatches(caPin, res.caCertificate)) throw new Error('join answered with a CA that does not match the pin');
      agent.certPem = res.certificate;
      agent.nodeId = res.nodeId;
      sharedCaPem ??= caPem;
      joinLatencies.push(performance.now() - t0);
    } catch (err) {
      noteError('join', (err as Error).message);
    }
    done += 1;
    if (done % 500 === 0) log(`joined ${done}/${agentCount}`);
  });
  const wallS = (performance.now() - started) / 1000;
  return { wallS, ok: joinLatencies.length };
}

function onHeartbeatAck(agent: SimAgent, seq: number): void {
  const entry = agent.pending.get(seq);
  if (!entry) {
    // Acked after it was already counted as timed out.
    stats[phase === 'steady' ? 'steady' : 'ramp'].lateAcks += 1;
    return;
  }
  agent.pending.delete(seq);
  entry.bucket.acked += 1;
  entry.bucket.rtts.push(performance.now() - entry.at);
}

function sendHeartbeat(agent: SimAgent): void {
  if (stopping || !agent.open || !agent.ws) return;
  const seq = ++agent.seq;
  const bucket = phase === 'steady' ? stats.steady : stats.ramp;
  agent.pending.set(seq, { at: performance.now(), bucket });
  bucket.sent += 1;
  agent.ws.send(`{"type":"heartbeat","seq":${seq},"sentAt":${Date.now()}}`);
}

function startHeartbeats(agent: SimAgent, intervalMs: number): void {
  // Jittered start over one interval, so the fleet does not beat in unison.
  const first = setTimeout(() => {
    sendHeartbeat(agent);
    agent.timer = setInterval(() => sendHeartbeat(agent), intervalMs);
  }, Math.random() * intervalMs);
  agent.timer = first;
}

const connectLatencies: number[] = [];
function connectAgent(agent: SimAgent, caPem: string): Promise<void> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let settled = false;
    const settle = (err?: string): void => {
      if (settled) return;
      settled = true;
      if (err) noteError('connect', err);
      else connectLatencies.push(performance.now() - t0);
      resolve();
    };
    const hostPart = host.includes(':') ? `[${host}]` : host;
    const ws = new WebSocket(`wss://${hostPart}:${port}${AGENT_CONNECT_PATH}`, {
      cert: agent.certPem,
      key: agent.keyPem,
      ca: caPem,
      minVersion: 'TLSv1.2',
      maxPayload: MAX_AGENT_MESSAGE_BYTES,
      handshakeTimeout: REQUEST_TIMEOUT_MS,
      perMessageDeflate: false,
    });
    agent.ws = ws;
    const helloTimer = setTimeout(() => {
      settle('no welcome within 30 s');
      ws.terminate();
    }, REQUEST_TIMEOUT_MS);
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'hello', protocolVersions: [...SUPPORTED_PROTOCOL_VERSIONS], agentVersion: VERSION }));
    });
    ws.on('message', (data) => {
      const text = data.toString();
      // Heartbeat acks are the hot path: read the seq without a full parse of anything else.
      if (text.startsWith('{"type":"heartbeat_ack"')) {
        const msg = JSON.parse(text) as { seq: number };
        onHeartbeatAck(agent, msg.seq);
        return;
      }
      const msg = JSON.parse(text) as { type: string; heartbeatIntervalMs?: number; code?: string; message?: string };
      if (msg.type === 'welcome') {
        clearTimeout(helloTimer);
        agent.open = true;
        settle();
        startHeartbeats(agent, heartbeatIntervalMs);
      } else if (msg.type === 'error') {
        log(`agent ${agent.index}: server error ${msg.code ?? ''}: ${msg.message ?? ''}`);
      }
    });
    ws.on('unexpected-response', (_req, res) => {
      clearTimeout(helloTimer);
      settle(`upgrade refused: HTTP ${res.statusCode ?? '?'}`);
      ws.terminate();
    });
    ws.on('error', (err) => {
      clearTimeout(helloTimer);
      settle(err.message);
    });
    ws.on('close', (code, reason) => {
      clearTimeout(helloTimer);
      clearTimeout(agent.timer);
      clearInterval(agent.timer);
      const wasOpen = agent.open;
      agent.open = false;
      if (wasOpen && !stopping) noteError('disconnects', `agent ${agent.index} closed ${code} ${reason.toString()}`);
      settle(`closed ${code} before welcome`);
    });
  });
}

async function connectAll(): Promise<{ wallS: number; ok: number }> {
  const caPem = sharedCaPem;
  if (!caPem) throw new Error('no CA: every join failed');
  const started = performance.now();
  let done = 0;
  await pool(
    agents.filter((a) => a.certPem),
    connectConcurrency,
    async (agent) => {
      await connectAgent(agent, caPem);
      done += 1;
      if (done % 1000 === 0) log(`connected ${done}/${agentCount}`);
    },
  );
  return { wallS: (performance.now() - started) / 1000, ok: connectLatencies.length };
}

/** Pending heartbeats older than the timeout are lost; a later ack is counted apart. */
function expireHeartbeats(now: number, timeoutMs: number): void {
  for (const agent of agents) {
    if (!agent) continue;
    for (const [seq, entry] of agent.pending) {
      if (now - entry.at <= timeoutMs) continue;
      agent.pending.delete(seq);
      entry.bucket.timeouts += 1;
      errors.heartbeatTimeouts += 1;
    }
  }
}

const loopDelay = monitorEventLoopDelay({ resolution: 1 });
let steadyStartedAt = 0;

function pendingCount(): number {
  let n = 0;
  for (const agent of agents) n += agent?.pending.size ?? 0;
  return n;
}

async function stop(): Promise<void> {
  const steadyS = (performance.now() - steadyStartedAt) / 1000;
  phase = 'drain';
  stopping = true;
  for (const agent of agents) {
    clearTimeout(agent?.timer);
    clearInterval(agent?.timer);
  }
  // Wait for the acks still in flight (up to the timeout), so every heartbeat is either acked or lost.
  const deadline = performance.now() + heartbeatTimeoutMs;
  while (pendingCount() > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expireHeartbeats(Number.POSITIVE_INFINITY, -1);
  loopDelay.disable();
  const connected = agents.filter((a) => a?.open && a.ws?.readyState === WebSocket.OPEN).length;
  const steady = stats.steady;
  const ramp = stats.ramp;
  send({
    type: 'result',
    steadyS: round(steadyS),
    connected,
    heartbeats: {
      steady: { sent: steady.sent, acked: steady.acked, lateAcks: steady.lateAcks, timeouts: steady.timeouts, rttMs: summarize(steady.rtts) },
      ramp: { sent: ramp.sent, acked: ramp.acked, lateAcks: ramp.lateAcks, timeouts: ramp.timeouts, rttMs: summarize(ramp.rtts) },
    },
    loadgenEventLoopDelayMs: {
      p50: round(loopDelay.percentile(50) / 1e6),
      p99: round(loopDelay.percentile(99) / 1e6),
      max: round(loopDelay.max / 1e6),
    },
    errors,
    errorSamples,
    loadgenPeakRssMiB: round(process.resourceUsage().maxRSS / 1024),
  });
}

process.on('message', (msg: { cmd?: string }) => {
  if (msg.cmd === 'start') {
    phase = 'steady';
    steadyStartedAt = performance.now();
    loopDelay.reset();
    loopDelay.enable();
  } else if (msg.cmd === 'stop') {
    void stop();
  } else if (msg.cmd === 'exit') {
    for (const agent of agents) agent?.ws?.terminate();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));

const expiry = setInterval(() => expireHeartbeats(performance.now(), heartbeatTimeoutMs), 1000);
expiry.unref();

try {
  send({ type: 'phase', phase: 'keygen' });
  await generateKeys();
  send({ type: 'phase', phase: 'join' });
  const join = await joinAll();
  log(`joined ${join.ok}/${agentCount} in ${join.wallS.toFixed(1)} s (${errors.join} errors)`);
  send({ type: 'phase', phase: 'connect' });
  const conn = await connectAll();
  log(`connected ${conn.ok}/${join.ok} in ${conn.wallS.toFixed(1)} s (${errors.connect} errors)`);
  send({
    type: 'ready',
    joinMode,
    join: { wallS: round(join.wallS), ok: join.ok, ratePerS: round(join.ok / join.wallS), latencyMs: summarize(joinLatencies) },
    connect: { wallS: round(conn.wallS), ok: conn.ok, ratePerS: round(conn.ok / conn.wallS), latencyMs: summarize(connectLatencies) },
  });
} catch (err) {
  log(`failed: ${(err as Error).stack ?? String(err)}`);
  send({ type: 'fatal', message: (err as Error).message });
  process.exit(1);
}
