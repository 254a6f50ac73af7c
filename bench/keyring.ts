/**
 * Keyring benchmark.
 *
 *   npm run bench:keyring [-- --seconds 5 --concurrency 16 --records 100000 --db postgres://…]
 *
 * 1. Secrets through the API: a real server on 127.0.0.1 (SQLite in a temp dir
 *    unless --db is given), the bootstrap admin token, keep-alive HTTPS
 *    connections; for --seconds each, as many `PUT /v1/secrets/data/…` (new
 *    versions of 64-byte values over 1,000 paths) and then `GET` of them as
 *    --concurrency callers manage. Every call is authorised, audited and
 *    envelope-encrypted as in production.
 * 2. Re-wrap: --records encrypted records written through the keyring, then
 *    `keys rotate`; the time until the background re-wrap has moved every one
 *    to the new key version (the retirement grace period is not counted).
 *
 * Prints ONE JSON object on stdout; progress on stderr.
 */
import { Agent as HttpsAgent, request } from 'node:https';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { silentLogger } from '../src/core/logger.js';
import { Server } from '../src/server/server.js';
import { seedEncryptedRecords } from '../test/seed-encrypted.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
    records: { type: 'string', default: '100000' },
    db: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const records = Number(values.records);

function percentile(sorted: number[], p: number): number {
  return Math.round((sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0) * 10) / 10;
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'bulwark-bench-keyring-'));
  const schema = values.db ? `bench_${randomBytes(4).toString('hex')}` : undefined;
  const server = await Server.start({
    dataDir,
    logger: silentLogger,
    api: { host: '127.0.0.1', port: 0 },
    agent: { host: '127.0.0.1', port: 0 },
    ...(values.db ? { db: values.db, dbSchema: schema } : {}),
    keyring: { retireGraceMs: 500 },
  });
  try {
    const token = server.adminToken ?? '';
    const ca = await readFile(join(dataDir, 'ca.pem'), 'utf8');
    const url = new URL(server.apiUrl);
    const agent = new HttpsAgent({ keepAlive: true, maxSockets: concurrency, ca });
    const call = (method: string, path: string, body?: unknown): Promise<number> =>
      new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            method,
            path,
            agent,
            headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
          },
          (res) => {
            res.resume();
            res.on('end', () => (res.statusCode === 200 ? resolve(res.statusCode) : reject(new Error(`${method} ${path}: ${res.statusCode ?? 0}`))));
          },
        );
        req.on('error', reject);
        req.end(payload);
      });

    const PATHS = 1000;
    const value = randomBytes(64).toString('base64');
    async function phase(name: string, op: (i: number) => Promise<number>): Promise<Record<string, number>> {
      const latencies: number[] = [];
      let next = 0;
      const until = performance.now() + seconds * 1000;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (performance.now() < until) {
            const i = next++;
            const t0 = performance.now();
            await op(i);
            latencies.push(performance.now() - t0);
          }
        }),
      );
      const elapsed = (performance.now() - started) / 1000;
      latencies.sort((a, b) => a - b);
      const result = { ops: latencies.length, perSecond: Math.round(latencies.length / elapsed), p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) };
      process.stderr.write(`${name}: ${JSON.stringify(result)}\n`);
      return result;
    }
    // Every path exists before the reads start.
    for (let i = 0; i < PATHS; i += concurrency) {
      await Promise.all(Array.from({ length: Math.min(concurrency, PATHS - i) }, (_, j) => call('PUT', `/v1/secrets/data/bench/app-${i + j}`, { value })));
    }
    const put = await phase('secret put', (i) => call('PUT', `/v1/secrets/data/bench/app-${i % PATHS}`, { value }));
    const get = await phase('secret get', (i) => call('GET', `/v1/secrets/data/bench/app-${i % PATHS}`));
    agent.destroy();

    // Re-wrap: records written through the keyring (TOTP seed column, 500 a statement).
    const keys = server.keys;
    const seedStarted = performance.now();
    await seedEncryptedRecords(server.store, keys, 0, records);
    process.stderr.write(`seeded ${records} records in ${Math.round(performance.now() - seedStarted)} ms\n`);
    const rotated = performance.now();
    const version = await keys.rotate();
    let status = await keys.status();
    while (!(status.rewrap?.target === version && status.rewrap.done >= status.rewrap.total && status.rewrap.total >= records)) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      status = await keys.status();
    }
    const rewrapMs = performance.now() - rotated;
    await keys.rewrapIdle();
    const rewrap = { records: status.rewrap?.total ?? 0, ms: Math.round(rewrapMs), recordsPerSecond: Math.round(((status.rewrap?.total ?? 0) / rewrapMs) * 1000) };
    process.stderr.write(`re-wrap: ${JSON.stringify(rewrap)}\n`);

    process.stdout.write(
      `${JSON.stringify({
        benchmark: 'keyring',
        database: values.db ? 'postgres' : 'sqlite',
        concurrency,
        secretPut: put,
        secretGet: get,
        rewrap,
        node: process.version,
      })}\n`,
    );
  } finally {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
    if (values.db && schema) {
      const client = new pg.Client({ connectionString: values.db });
      await client.connect();
      await client.query(`drop schema if exists "${schema}" cascade`);
      await client.end();
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:keyring failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
