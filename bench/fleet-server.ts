/**
 * Server side of the fleet benchmark: a real control plane in its own process so
 * the driver can read its CPU and memory from /proc. Started by bench/fleet.ts;
 * prints one JSON line ({apiUrl, agentUrl, caPin, adminToken, pid, dataDir}) on
 * stdout once both listeners are up, logs (warn and above) on stderr, and shuts
 * down cleanly on SIGTERM or when stdin closes.
 */
import { parseArgs } from 'node:util';
import SqliteDatabase from 'better-sqlite3';
import { pino } from 'pino';
import { Server } from '../src/server/server.js';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    'heartbeat-interval-ms': { type: 'string', default: '10000' },
    db: { type: 'string' },
    'log-level': { type: 'string', default: 'warn' },
    /** Time every SQLite statement by its SQL text and print the totals on stderr at exit. */
    'sql-stats': { type: 'boolean', default: false },
  },
});
const dataDir = values['data-dir'];
if (!dataDir) {
  console.error('fleet-server: --data-dir is required');
  process.exit(2);
}

const sqlStats = new Map<string, { calls: number; ms: number }>();
if (values['sql-stats']) {
  // better-sqlite3 runs statements synchronously on the main thread: their time is event-loop time.
  const probe = new SqliteDatabase(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, unknown>;
  probe.close();
  for (const method of ['run', 'all', 'get']) {
    const original = proto[method] as (this: { source: string }, ...args: unknown[]) => unknown;
    proto[method] = function (this: { source: string }, ...args: unknown[]): unknown {
      const t0 = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        const key = this.source.replace(/\s+/g, ' ').slice(0, 160);
        const entry = sqlStats.get(key) ?? { calls: 0, ms: 0 };
        entry.calls += 1;
        entry.ms += performance.now() - t0;
        sqlStats.set(key, entry);
      }
    };
  }
  process.on('exit', () => {
    const rows = [...sqlStats].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25);
    for (const [sqlText, { calls, ms }] of rows) {
      process.stderr.write(`[fleet-server] sql ${ms.toFixed(0).padStart(7)} ms ${String(calls).padStart(7)} calls  ${sqlText}\n`);
    }
  });
}

const logger = pino({ name: 'bench-server', level: values['log-level'] ?? 'warn' }, pino.destination(2));
const server = await Server.start({
  dataDir,
  ...(values.db ? { db: values.db } : {}),
  api: { host: '127.0.0.1', port: 0 },
  agent: { host: '127.0.0.1', port: 0 },
  heartbeatIntervalMs: Number(values['heartbeat-interval-ms']),
  logger,
});

process.stdout.write(
  `${JSON.stringify({ apiUrl: server.apiUrl, agentUrl: server.agentUrl, caPin: server.caPin, adminToken: server.adminToken, pid: process.pid, dataDir })}\n`,
);

let closing = false;
async function shutdown(): Promise<void> {
  if (closing) return;
  closing = true;
  const force = setTimeout(() => process.exit(1), 15_000);
  force.unref();
  try {
    await server.close();
  } catch (err) {
    console.error('fleet-server: close failed', err);
  }
  // A --cpu-prof profile is written at a normal exit.
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
process.stdin.on('end', () => void shutdown());
process.stdin.resume();
