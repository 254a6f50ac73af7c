/**
 * Integration-test harness: starts the real thing (as temporal's testing package
 * does) — a real Server on 127.0.0.1 with its own CA and data directory, real
 * agents joined over real mutual TLS, SQLite or PostgreSQL underneath.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { ConnectionOptions, SecureVersion, TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { WebSocket } from 'ws';
import { base32Decode, totpCode } from '../src/access/totp.js';
import { Agent, type AgentOptions } from '../src/agent/agent.js';
import { makeFixtureTree, removeFixtureTree } from '../src/host/fixture-tree.js';
import type { AgentIdentity } from '../src/agent/identity.js';
import { joinCluster, parseServerUrl } from '../src/agent/join.js';
import type { Clock } from '../src/core/clock.js';
import { silentLogger } from '../src/core/logger.js';
import { AGENT_CONNECT_PATH, JOIN_ALPN, JOIN_PATH } from '../src/protocol/agent.js';
import type { EventView, NodeView } from '../src/protocol/api.js';
import type { ServerOptions } from '../src/server/options.js';
import { Server } from '../src/server/server.js';
import type { TestDatabase } from '../src/store/test-databases.js';

/**
 * A test file that does not exit after its last test says what still holds its event loop
 * (seen once in CI: test/fleet.test.ts, every suite ok, then the runner's 180 s timeout).
 * The timer is unref'd: it fires only when something else keeps the process alive.
 */
after(() => {
  const timer = setTimeout(() => process.stderr.write(`harness: this test file still runs 20 s after its last test; alive: ${process.getActiveResourcesInfo().join(', ')}\n`), 20_000);
  timer.unref();
});

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const POSTGRES_URL = process.env.BULWARK_TEST_POSTGRES_URL;

// ---------------------------------------------------------------------------
// Waiting

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Shown when the wait times out. */
  message?: string;
}

/**
 * Polls `fn` until it returns something truthy and returns that. Tests wait for
 * conditions, never for fixed times, so a slow machine only makes them slower.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, opts: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const intervalMs = opts.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`waitFor timed out after ${timeoutMs} ms: ${opts.message ?? 'condition never held'}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resolves with the first emission of `event` on an EventEmitter-like object. */
export function once<T>(emitter: { once(event: string, cb: (arg: T) => void): unknown }, event: string, timeoutMs = 20_000): Promise<T> {
  return new Promise<T>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(event, (arg: T) => {
      clearTimeout(timer);
      resolvePromise(arg);
    });
  });
}

// ---------------------------------------------------------------------------
// Clocks

/** The real time plus an offset the test can move: token expiry without waiting. */
export class ShiftedClock implements Clock {
  offsetMs: number;

  constructor(offsetMs = 0) {
    this.offsetMs = offsetMs;
  }

  now(): number {
    return Date.now() + this.offsetMs;
  }
}

// ---------------------------------------------------------------------------
// Server

export interface ApiResponse<T> {
  status: number;
  json: T;
  body: string;
  headers: Record<string, string | string[] | number | undefined>;
}

export interface ErrorJson {
  error: { code: string; message: string };
}

export interface ApiCallOptions {
  /** Bearer token to send; null sends none. Default: the bootstrap admin token. */
  token?: string | null;
  headers?: Record<string, string>;
  /** The client address the server sees (per-source rate limits); default 127.0.0.1. */
  remoteAddress?: string;
}

export interface CreatedJoinToken {
  id: string;
  token: string;
  caPin: string;
  joinCommand: string;
  labels: Record<string, string>;
  usesAllowed: number;
  usesCount: number;
  expiresAt: number;
}

export interface TestServer {
  server: Server;
  adminToken: string;
  dataDir: string;
  /** An in-process request (fastify inject) with the admin bearer token unless `opts.token` says otherwise. */
  api<T = unknown>(method: string, url: string, body?: unknown, opts?: ApiCallOptions): Promise<ApiResponse<T>>;
  createJoinToken(opts?: { uses?: number; ttlSeconds?: number; labels?: Record<string, string> }): Promise<CreatedJoinToken>;
  node(id: string): Promise<NodeView>;
  events(filter?: { type?: string; nodeId?: string; afterId?: number }): Promise<EventView[]>;
  /** Waits until an event of `type` (for `nodeId`, after `afterId`) exists and returns it. */
  waitForEvent(type: string, filter?: { nodeId?: string; afterId?: number }, opts?: WaitOptions): Promise<EventView>;
  lastEventId(): Promise<number>;
  close(): Promise<void>;
}

export type TestServerOptions = Partial<ServerOptions> & { database?: TestDatabase };

/**
 * Starts a real server on 127.0.0.1 (both listeners on port 0) in a fresh data
 * directory. With a PostgreSQL `database` the server gets a schema of its own,
 * dropped again by `close()`.
 */
export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const { database, ...rest } = opts;
  const dataDir = await mkdtemp(join(tmpdir(), 'bulwark-it-server-'));
  let schema: string | undefined;
  const dbOptions: Partial<ServerOptions> = {};
  if (database?.kind === 'postgres') {
    if (!POSTGRES_URL) throw new Error('a PostgreSQL test database needs BULWARK_TEST_POSTGRES_URL');
    schema = `t_${randomBytes(6).toString('hex')}`;
    dbOptions.db = POSTGRES_URL;
    dbOptions.dbSchema = schema;
  }
  let server: Server;
  try {
    server = await Server.start({
      heartbeatIntervalMs: 200,
      suspectAfterMissed: 10,
      offlineAfterMissed: 25,
      joinFailuresPerMinute: 1000,
      logger: silentLogger,
      ...rest,
      ...dbOptions,
      dataDir,
      api: { host: '127.0.0.1', port: 0, ...rest.api },
      agent: { host: '127.0.0.1', port: 0, ...rest.agent },
    });
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    if (schema) await dropSchema(schema);
    throw err;
  }
  const adminToken = server.adminToken;
  if (!adminToken) throw new Error('a fresh server should have created a bootstrap admin token');

  let closed = false;
  const api = async <T>(method: string, url: string, body?: unknown, opts: ApiCallOptions = {}): Promise<ApiResponse<T>> => {
    const token = opts.token === undefined ? adminToken : opts.token;
    const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const res = await server.api.inject({
      method: method as 'GET',
      url,
      headers: {
        ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...opts.headers,
      },
      ...(payload === undefined ? {} : { payload }),
      ...(opts.remoteAddress === undefined ? {} : { remoteAddress: opts.remoteAddress }),
    });
    let json: unknown;
    try {
      json = res.body === '' ? undefined : JSON.parse(res.body);
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, json: json as T, body: res.body, headers: res.headers };
  };

  const events = async (filter: { type?: string; nodeId?: string; afterId?: number } = {}): Promise<EventView[]> =>
    server.events.list({
      afterId: filter.afterId ?? 0,
      limit: 1000,
      ...(filter.type === undefined ? {} : { type: filter.type }),
      ...(filter.nodeId === undefined ? {} : { nodeId: filter.nodeId }),
    });

  return {
    server,
    adminToken,
    dataDir,
    api,
    async createJoinToken(o = {}) {
      const res = await api<CreatedJoinToken>('POST', '/v1/join-tokens', { uses: o.uses ?? 1, ttlSeconds: o.ttlSeconds ?? 600, labels: o.labels ?? {} });
      if (res.status !== 201) throw new Error(`creating a join token failed: ${res.status} ${res.body}`);
      return res.json;
    },
    async node(id) {
      const res = await api<NodeView>('GET', `/v1/nodes/${encodeURIComponent(id)}`);
      if (res.status !== 200) throw new Error(`GET node ${id}: ${res.status} ${res.body}`);
      return res.json;
    },
    events,
    async waitForEvent(type, filter = {}, wait = {}) {
      return waitFor(async () => (await events({ type, ...filter }))[0], { message: `event ${type} ${filter.nodeId ?? ''}`, ...wait });
    },
    lastEventId: () => server.events.lastId(),
    async close() {
      if (closed) return;
      closed = true;
      try {
        await server.close();
      } finally {
        await rm(dataDir, { recursive: true, force: true });
        if (schema) await dropSchema(schema);
      }
    },
  };
}

/** Drops a PostgreSQL schema a test made (and everything in it). */
export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------
// Agents

/** A tiny host tree the agent reads its facts from. */
export async function makeHostFixture(hostname: string): Promise<string> {
  return makeFixtureTree({
    '/proc/sys/kernel/hostname': `${hostname}\n`,
    '/proc/sys/kernel/osrelease': '6.1.0-21-amd64\n',
    '/etc/os-release': 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n',
    '/proc/uptime': '12345.67 23456.78\n',
  });
}

export interface EnrollOptions {
  labels?: Record<string, string>;
  /** A join token to use instead of a fresh single-use one. */
  token?: string;
  hostname?: string;
}

export interface Enrolled {
  identity: AgentIdentity;
  dataDir: string;
  hostname: string;
}

/** Joins a node (key pair, CSR, pinned CA) without starting an agent: an identity for raw connections. */
export async function enroll(t: TestServer, opts: EnrollOptions = {}): Promise<Enrolled> {
  const token = opts.token ?? (await t.createJoinToken({ labels: opts.labels ?? {} })).token;
  const hostname = opts.hostname ?? `node-${randomBytes(3).toString('hex')}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'bulwark-it-agent-'));
  try {
    const identity = await joinCluster({ servers: [t.server.agentUrl], token, caPin: t.server.caPin, dataDir, hostname });
    return { identity, dataDir, hostname };
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}

export interface TestAgent {
  /** The running agent (replaced by `restart`). */
  agent: Agent;
  nodeId: string;
  identity: AgentIdentity;
  dataDir: string;
  root: string;
  hostname: string;
  /** Starts a new Agent from the same data directory, as after a reboot. */
  restart(opts?: { waitConnected?: boolean }): Promise<Agent>;
  stop(): Promise<void>;
  /** Current certificate and key on disk (they change on renewal). */
  credentials(): Promise<{ certPem: string; keyPem: string; caPem: string }>;
  close(): Promise<void>;
}

export interface JoinAgentOptions extends EnrollOptions {
  heartbeatIntervalMs?: number;
  protocolVersions?: number[];
  factsIntervalMs?: number;
  /** The agent's exec policy (default: disabled). */
  exec?: AgentOptions['exec'];
  /** What audits may do on the node (default: no command checks). */
  audit?: AgentOptions['audit'];
  /** Wait for the first `connected` (default true). */
  waitConnected?: boolean;
}

/** Joins a node and starts an in-process Agent for it, reading facts from a fixture root. */
export async function joinAgent(t: TestServer, opts: JoinAgentOptions = {}): Promise<TestAgent> {
  const enrolled = await enroll(t, opts);
  const root = await makeHostFixture(enrolled.hostname);
  const agentOptions: AgentOptions = {
    dataDir: enrolled.dataDir,
    root,
    logger: silentLogger,
    ...(opts.heartbeatIntervalMs === undefined ? {} : { heartbeatIntervalMs: opts.heartbeatIntervalMs }),
    ...(opts.protocolVersions === undefined ? {} : { protocolVersions: opts.protocolVersions }),
    ...(opts.factsIntervalMs === undefined ? {} : { factsIntervalMs: opts.factsIntervalMs }),
    ...(opts.exec === undefined ? {} : { exec: opts.exec }),
    ...(opts.audit === undefined ? {} : { audit: opts.audit }),
  };
  const start = async (waitConnected: boolean): Promise<Agent> => {
    const agent = await Agent.start(agentOptions);
    if (waitConnected) {
      try {
        await once(agent, 'connected');
      } catch (err) {
        await agent.stop();
        throw err;
      }
    }
    return agent;
  };
  let agent: Agent;
  try {
    agent = await start(opts.waitConnected ?? true);
  } catch (err) {
    await rm(enrolled.dataDir, { recursive: true, force: true });
    await removeFixtureTree(root);
    throw err;
  }
  const handle: TestAgent = {
    agent,
    nodeId: enrolled.identity.nodeId,
    identity: enrolled.identity,
    dataDir: enrolled.dataDir,
    root,
    hostname: enrolled.hostname,
    async restart(o = {}) {
      await handle.agent.stop();
      handle.agent = await start(o.waitConnected ?? true);
      return handle.agent;
    },
    stop: () => handle.agent.stop(),
    async credentials() {
      const [certPem, keyPem, caPem] = await Promise.all(['node.crt', 'node.key', 'ca.pem'].map((f) => readFile(join(enrolled.dataDir, f), 'utf8')));
      return { certPem: certPem ?? '', keyPem: keyPem ?? '', caPem: caPem ?? '' };
    },
    async close() {
      await handle.agent.stop();
      await rm(enrolled.dataDir, { recursive: true, force: true });
      await removeFixtureTree(root);
    },
  };
  return handle;
}

// ---------------------------------------------------------------------------
// Raw connections

export type ConnectResult =
  | { kind: 'open'; ws: WebSocket }
  | { kind: 'http'; status: number; body: string; json: ErrorJson | undefined }
  | { kind: 'error'; message: string };

export interface ClientTls {
  cert?: string;
  key?: string;
  ca: string;
  minVersion?: SecureVersion;
  maxVersion?: SecureVersion;
  ciphers?: string;
}

/**
 * Opens a WebSocket to the agent channel as an agent would. `open` means the
 * server accepted (application data arrived); `http` is a refusal at the
 * upgrade; `error` a refusal at the TLS handshake (or before).
 */
export function connectAgentSocket(agentUrl: string, tls: ClientTls, timeoutMs = 15_000): Promise<ConnectResult> {
  const { host, port } = parseServerUrl(agentUrl);
  return new Promise<ConnectResult>((resolvePromise) => {
    let settled = false;
    const settle = (r: ConnectResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolvePromise(r);
    };
    const ws = new WebSocket(`wss://${host}:${port}${AGENT_CONNECT_PATH}`, {
      ca: tls.ca,
      ...(tls.cert ? { cert: tls.cert } : {}),
      ...(tls.key ? { key: tls.key } : {}),
      ...(tls.minVersion ? { minVersion: tls.minVersion } : {}),
      ...(tls.maxVersion ? { maxVersion: tls.maxVersion } : {}),
      ...(tls.ciphers ? { ciphers: tls.ciphers } : {}),
      handshakeTimeout: timeoutMs,
    });
    const timer = setTimeout(() => {
      ws.terminate();
      settle({ kind: 'error', message: 'timed out' });
    }, timeoutMs);
    ws.on('open', () => settle({ kind: 'open', ws }));
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: ErrorJson | undefined;
        try {
          json = JSON.parse(body) as ErrorJson;
        } catch {
          json = undefined;
        }
        settle({ kind: 'http', status: res.statusCode ?? 0, body, json });
        ws.terminate();
      });
    });
    ws.on('error', (err) => settle({ kind: 'error', message: err.message }));
    ws.on('close', () => settle({ kind: 'error', message: 'closed before open' }));
  });
}

export interface HttpsResult {
  status: number;
  body: string;
  json: unknown;
  headers: Record<string, string | string[] | undefined>;
  /** The TLS version the connection used, e.g. "TLSv1.3". */
  protocol: string | null;
}

/**
 * A real HTTPS request. Resolves with the response, or rejects when no
 * response arrives (a handshake refusal shows up here, even under TLS 1.3 where
 * the client believes its handshake finished).
 */
export function httpsCall(
  url: string,
  opts: ClientTls & { method?: string; body?: string | Buffer; headers?: Record<string, string>; alpn?: string[]; timeoutMs?: number },
): Promise<HttpsResult> {
  const target = new URL(url);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const port = Number(target.port);
  const tls: ConnectionOptions = {
    host,
    port,
    ca: opts.ca,
    ...(opts.cert ? { cert: opts.cert } : {}),
    ...(opts.key ? { key: opts.key } : {}),
    ...(opts.minVersion ? { minVersion: opts.minVersion } : {}),
    ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}),
    ...(opts.ciphers ? { ciphers: opts.ciphers } : {}),
    ...(opts.alpn ? { ALPNProtocols: opts.alpn } : {}),
    rejectUnauthorized: true,
  };
  return new Promise<HttpsResult>((resolvePromise, reject) => {
    const req = httpsRequest(
      {
        host,
        port,
        method: opts.method ?? 'GET',
        path: `${target.pathname}${target.search}`,
        // No pooling: every call is its own connection, closed after the response.
        agent: false,
        ...tls,
        headers: { connection: 'close', ...(opts.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(opts.body)) }), ...opts.headers },
        timeout: opts.timeoutMs ?? 15_000,
      },
      (res) => {
        const protocol = (res.socket as TLSSocket | null)?.getProtocol() ?? null;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(body);
          } catch {
            json = undefined;
          }
          resolvePromise({ status: res.statusCode ?? 0, body, json, headers: res.headers, protocol });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** POST /v1/join on the agent listener, as an agent without a certificate does (join ALPN, pinned CA). */
export function postJoin(t: TestServer, body: unknown, tls: Partial<ClientTls> = {}): Promise<HttpsResult> {
  return httpsCall(`${t.server.agentUrl}${JOIN_PATH}`, {
    ca: t.server.pki.caCertPem,
    ...tls,
    method: 'POST',
    alpn: [JOIN_ALPN],
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
}

/**
 * A bare TLS connection: resolves true only if the server's application data
 * arrived (here: an HTTP response to a request sent at once).
 */
export function tlsConnect(url: string, opts: ClientTls & { alpn?: string[] }): Promise<boolean> {
  return httpsCall(url, { ...opts, timeoutMs: 10_000 }).then(
    () => true,
    () => false,
  );
}

/** Waits for a WebSocket to close and returns its close code and reason. */
export function waitClose(ws: WebSocket, timeoutMs = 15_000): Promise<{ code: number; reason: string }> {
  return new Promise((resolvePromise, reject) => {
    if (ws.readyState === WebSocket.CLOSED) {
      resolvePromise({ code: 1006, reason: '' });
      return;
    }
    const timer = setTimeout(() => reject(new Error('socket did not close')), timeoutMs);
    ws.once('close', (code, reason) => {
      clearTimeout(timer);
      resolvePromise({ code, reason: reason.toString() });
    });
  });
}

// ---------------------------------------------------------------------------
// Agent processes (the CLI)

export const CLI_ENTRY = join(REPO_ROOT, 'src', 'cli', 'main.ts');

export function cliAvailable(): boolean {
  return existsSync(CLI_ENTRY);
}

export interface AgentProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs `bulwark <args>` from source in a child process; stdout and stderr are kept for failure messages. */
export function spawnCli(args: string[], env: Record<string, string> = {}): AgentProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, BULWARK_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolvePromise) => {
    child.once('exit', (code, signal) => resolvePromise({ code, signal }));
  });
  return {
    child,
    output: () => out,
    exited,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** `bulwark agent <sub> …` as a real process: `up` (join + run) or `run`. */
export function spawnAgentProcess(
  sub: 'up' | 'run' | 'join',
  opts: { dataDir: string; root?: string; server?: string; token?: string; caPin?: string; hostname?: string; heartbeatInterval?: string },
): AgentProcess {
  const args = ['agent', sub, '--data-dir', opts.dataDir];
  if (opts.server) args.push('--server', opts.server);
  if (opts.token) args.push('--token', opts.token);
  if (opts.caPin) args.push('--ca-pin', opts.caPin);
  if (opts.hostname) args.push('--hostname', opts.hostname);
  if (sub !== 'join') {
    if (opts.root) args.push('--root', opts.root);
    if (opts.heartbeatInterval) args.push('--heartbeat-interval', opts.heartbeatInterval);
  }
  return spawnCli(args);
}

/** Runs `fn` with a fresh temp dir that is removed afterwards. */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Users, sessions, MFA and API tokens (access-control tests)

export interface LoginJson {
  token: string;
  expiresAt: number;
  user: string;
  mfaEnrollmentRequired: boolean;
}

export interface CreatedApiTokenJson {
  id: string;
  name: string;
  role: string;
  token: string;
  expiresAt: number | null;
}

export interface TestUser {
  name: string;
  password: string;
  roles: string[];
}

let userCounter = 0;

/** A unique, valid user name with `prefix`. */
export function uniqueName(prefix: string): string {
  userCounter += 1;
  return `${prefix}-${userCounter}-${randomBytes(2).toString('hex')}`;
}

/** Creates a user through the API (as the bootstrap admin unless `as` says otherwise), with a known password. */
export async function createUser(t: TestServer, opts: { name?: string; roles: string[]; password?: string; as?: string }): Promise<TestUser> {
  const name = opts.name ?? uniqueName('user');
  const password = opts.password ?? `pw-${randomBytes(12).toString('base64url')}`;
  const res = await t.api('POST', '/v1/users', { name, roles: opts.roles, password }, opts.as === undefined ? {} : { token: opts.as });
  if (res.status !== 201) throw new Error(`creating user ${name} failed: ${res.status} ${res.body}`);
  return { name, password, roles: opts.roles };
}

/** POST /v1/login without a bearer token; the raw answer. */
export function login(t: TestServer, user: string, password: string, totp?: string, opts: { remoteAddress?: string } = {}): Promise<ApiResponse<LoginJson & ErrorJson>> {
  return t.api<LoginJson & ErrorJson>('POST', '/v1/login', { user, password, ...(totp === undefined ? {} : { totp }) }, { token: null, ...opts });
}

/** Logs in and returns the session token; throws unless the login succeeds. */
export async function loginSession(t: TestServer, user: string, password: string, totp?: string): Promise<string> {
  const res = await login(t, user, password, totp);
  if (res.status !== 200) throw new Error(`login of ${user} failed: ${res.status} ${res.body}`);
  return res.json.token;
}

/** Mints an API token through the API (as the bootstrap admin unless `as` says otherwise). */
export async function mintApiToken(t: TestServer, role: string, opts: { name?: string; ttlSeconds?: number; as?: string } = {}): Promise<CreatedApiTokenJson> {
  const res = await t.api<CreatedApiTokenJson>(
    'POST',
    '/v1/api-tokens',
    { name: opts.name ?? uniqueName(role), role, ...(opts.ttlSeconds === undefined ? {} : { ttlSeconds: opts.ttlSeconds }) },
    opts.as === undefined ? {} : { token: opts.as },
  );
  if (res.status !== 201) throw new Error(`minting a ${role} token failed: ${res.status} ${res.body}`);
  return res.json;
}

/**
 * The TOTP code of the next 30-second step on the server's clock: moves the
 * (shifted) server clock one step on, so a code is never a replay of the last
 * one accepted, without waiting.
 */
export function nextTotp(secret: Uint8Array, clock: ShiftedClock): string {
  clock.offsetMs += 30_000;
  return totpCode(secret, clock.now());
}

/** Enrols MFA for the session's user through the API (enroll, then confirm with a code); returns the raw TOTP secret. */
export async function enrollMfa(t: TestServer, session: string, clock: ShiftedClock): Promise<Buffer> {
  const begun = await t.api<{ uri: string; secret: string }>('POST', '/v1/mfa/enroll', undefined, { token: session });
  if (begun.status !== 200) throw new Error(`MFA enrolment failed: ${begun.status} ${begun.body}`);
  const secret = base32Decode(begun.json.secret);
  const confirmed = await t.api('POST', '/v1/mfa/confirm', { code: nextTotp(secret, clock) }, { token: session });
  if (confirmed.status !== 204) throw new Error(`MFA confirmation failed: ${confirmed.status} ${confirmed.body}`);
  return secret;
}

export interface MfaUser extends TestUser {
  totpSecret: Buffer;
  /** A session that passed MFA. */
  session: string;
}

/**
 * A user with `roles` (default admin) who enrolled MFA and holds a session that
 * passed it. The server must run on `clock` (a ShiftedClock), which moves on a
 * step per code so codes are never replays.
 */
export async function userWithMfa(t: TestServer, clock: ShiftedClock, opts: { roles?: string[]; name?: string } = {}): Promise<MfaUser> {
  const user = await createUser(t, { roles: opts.roles ?? ['admin'], ...(opts.name === undefined ? {} : { name: opts.name }) });
  const first = await loginSession(t, user.name, user.password);
  const totpSecret = await enrollMfa(t, first, clock);
  const session = await loginSession(t, user.name, user.password, nextTotp(totpSecret, clock));
  return { ...user, totpSecret, session };
}

// ---------------------------------------------------------------------------
// The server's database, opened behind its back (tampering, fault injection)

export interface RawDb {
  kind: 'sqlite' | 'postgres';
  /** Runs SQL with `?` placeholders (rewritten to `$n` for PostgreSQL). */
  run(sqlText: string, params?: unknown[]): Promise<void>;
  all<T>(sqlText: string, params?: unknown[]): Promise<T[]>;
  /** Runs several statements at once, without parameters. */
  exec(sqlText: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * A second connection to the test server's database, as someone with access to
 * the database file or server would have: the SQLite file in the data directory
 * (better-sqlite3), or the server's PostgreSQL schema.
 */
export async function openRawDb(t: TestServer): Promise<RawDb> {
  const schema = t.server.options.dbSchema;
  if (schema === undefined) {
    const handle = new BetterSqlite3(t.server.options.db);
    handle.pragma('busy_timeout = 5000');
    return {
      kind: 'sqlite',
      async run(sqlText, params = []) {
        handle.prepare(sqlText).run(...params);
      },
      async all<T>(sqlText: string, params: unknown[] = []) {
        return handle.prepare(sqlText).all(...params) as T[];
      },
      async exec(sqlText) {
        handle.exec(sqlText);
      },
      async close() {
        handle.close();
      },
    };
  }
  const client = new pg.Client({ connectionString: POSTGRES_URL, options: `-c search_path=${schema}` });
  await client.connect();
  const numbered = (sqlText: string): string => {
    let n = 0;
    return sqlText.replace(/\?/g, () => `$${++n}`);
  };
  return {
    kind: 'postgres',
    async run(sqlText, params = []) {
      await client.query(numbered(sqlText), params);
    },
    async all<T>(sqlText: string, params: unknown[] = []) {
      return (await client.query(numbered(sqlText), params)).rows as T[];
    },
    async exec(sqlText) {
      await client.query(sqlText);
    },
    async close() {
      await client.end();
    },
  };
}
