/**
 * Audit benchmark.
 *
 *   npm run bench:audit [-- --runs 5]
 *
 * 1. The built-in `linux-baseline` pack evaluated on one node's tree: the
 *    pack's own hardened fixture tree (a Debian 12 machine as its fixtures
 *    describe it), materialised in a temp dir, evaluated --runs times with a
 *    fresh host each time (no cache carried over); median and max reported.
 * 2. A full TLS scan of one local endpoint: a Node TLS server on 127.0.0.1
 *    accepting TLS 1.2 and 1.3 (every suite OpenSSL enables by default) with a
 *    certificate of a throw-away CA; protocol versions, every suite per
 *    version, server preference and the certificate chain; median and max.
 *
 * Prints ONE JSON object on stdout; progress on stderr. Targets (issue #4):
 * baseline pack < 2 s, full TLS scan < 3 s. Exits non-zero only when the
 * harness fails, never because a figure missed a target.
 */
import { createServer, type Server } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadBuiltinPack } from '../src/checks/packs/index.js';
import { FIXTURE_NOW, materializeBaseTree } from '../src/checks/packs/fixture-materialize.js';
import { createRootedHost, evaluatePolicy } from '../src/checks/policy/index.js';
import { scanTlsEndpoint } from '../src/checks/tls/index.js';
import { createRootCa } from '../src/pki/ca.js';
import { issueServerCertificate } from '../src/pki/issue.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = Math.max(1, Number(values.runs));

function stats(samples: number[]): { medianMs: number; maxMs: number; runs: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  return { medianMs: Math.round(median), maxMs: Math.round(sorted[sorted.length - 1] ?? 0), runs: samples.length };
}

async function baseline(): Promise<Record<string, unknown>> {
  const pack = await loadBuiltinPack('linux-baseline');
  const root = await materializeBaseTree();
  try {
    const samples: number[] = [];
    let counts = { pass: 0, fail: 0, na: 0 };
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      // The fixtures' own moment: file ages and certificate lifetimes are written relative to it.
      const result = await evaluatePolicy(pack, createRootedHost(root), { now: FIXTURE_NOW });
      samples.push(performance.now() - started);
      counts = {
        pass: result.findings.filter((f) => f.status === 'pass').length,
        fail: result.findings.filter((f) => f.status === 'fail').length,
        na: result.findings.filter((f) => f.status === 'not_applicable').length,
      };
      process.stderr.write(`baseline run ${i + 1}/${runs}: ${Math.round(samples[i] ?? 0)} ms\n`);
    }
    return { checks: pack.checks.length, ...counts, ...stats(samples), targetMs: 2000 };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function tlsScan(): Promise<Record<string, unknown>> {
  const now = Date.now();
  const ca = await createRootCa({ clusterName: 'bench', notBefore: now - 60_000, notAfter: now + 86_400_000 });
  const leaf = await issueServerCertificate(ca, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], notBefore: now - 60_000, notAfter: now + 86_400_000 });
  const server: Server = createServer({ cert: leaf.chainPem, key: leaf.keyPem, minVersion: 'TLSv1.2' }, (socket) => socket.end());
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    const samples: number[] = [];
    let summary: Record<string, unknown> = {};
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      const result = await scanTlsEndpoint({ host: '127.0.0.1', port }, { now: Date.now(), ca: [ca.certPem], budgetMs: 10_000 });
      samples.push(performance.now() - started);
      summary = { tls: result.tls, protocols: result.protocols.filter((p) => p.accepted).map((p) => `${p.version}:${p.suites.length}`), incomplete: result.incomplete ?? null };
      process.stderr.write(`tls scan ${i + 1}/${runs}: ${Math.round(samples[i] ?? 0)} ms\n`);
    }
    return { endpoint: `127.0.0.1:${port}`, ...summary, ...stats(samples), targetMs: 3000 };
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const result = { benchmark: 'audit', node: process.version, baselinePack: await baseline(), tlsScan: await tlsScan() };
process.stdout.write(`${JSON.stringify(result)}\n`);
