import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { BulwarkError } from '../../core/errors.js';
import { resolveAddress } from './address.js';
import { inspectCertificate } from './certificate.js';
import { fetchChain } from './certificate-fetch.js';
import { describeOutcome, detectServerPreference, enumerateSuites, probeVersion, type VersionAnswer } from './enumerate.js';
import { TaskPool } from './pool.js';
import { Prober } from './prober.js';
import type { AcceptedSuite, CertificateResult, ProtocolResult, TlsScanResult } from './result.js';
import { suiteByCode, suitesForVersion } from './suites.js';
import { serverNameOf, validateTarget, type TlsTarget } from './target.js';
import { TLS_VERSIONS, type TlsVersion } from './versions.js';

export interface TlsScanOptions {
  /** The instant certificates are judged at (ms since the epoch); the injected clock. Default: now. */
  now?: number;
  /** Wall-clock budget for the whole endpoint; when it runs out the result so far is returned, marked `incomplete`. Default 5000. */
  budgetMs?: number;
  /** Trust anchors (PEM) replacing Node's default store for chain verification. */
  ca?: string[];
  /** A certificate ending within this many days is reported as expiring. Default 30. */
  expiryWarningDays?: number;
  /** Aborting rejects the scan with the signal's reason. */
  signal?: AbortSignal;
}

export interface TlsMultiScanOptions extends TlsScanOptions {
  /** Endpoints scanned at once (each with its own connection pool). Default 4. */
  concurrency?: number;
}

const DEFAULT_BUDGET_MS = 5000;
const DEFAULT_EXPIRY_WARNING_DAYS = 30;
const DEFAULT_ENDPOINT_CONCURRENCY = 4;
/** Connections open at once to one endpoint. */
const CONNECTIONS_PER_ENDPOINT = 8;
/** One connection's connect + answer; a server silent for this long is not going to answer a hello. */
const PROBE_TIMEOUT_MS = 3000;

/** A version and its probe's answer (undefined when the budget ran out first). */
interface VersionAnswers {
  version: TlsVersion;
  answer: VersionAnswer | undefined;
}

interface VersionProbe {
  version: TlsVersion;
  answer: Promise<VersionAnswer | undefined>;
}

/** The abort reason of the endpoint's own budget, told apart from a caller's abort. */
class BudgetExhausted extends Error {}

/**
 * Scans one endpoint: which protocol versions and cipher suites it accepts
 * (raw ClientHellos, so NULL/EXPORT/RC4/3DES are found too), whether it imposes
 * its cipher order, and its certificate chain. Never rejects for anything the
 * endpoint does (refused, silent, not TLS): that is reported in the result.
 * Rejects with INVALID_TARGET for a malformed target and with the signal's
 * reason when the caller aborts.
 */
export async function scanTlsEndpoint(target: TlsTarget, options: TlsScanOptions = {}): Promise<TlsScanResult> {
  const checked = validateTarget(target);
  const budgetMs = options.budgetMs ?? DEFAULT_BUDGET_MS;
  if (!Number.isFinite(budgetMs) || budgetMs <= 0) throw new BulwarkError('BAD_REQUEST', 'the TLS scan budget must be a positive number of milliseconds');
  const warningDays = options.expiryWarningDays ?? DEFAULT_EXPIRY_WARNING_DAYS;
  if (!Number.isFinite(warningDays) || warningDays < 0) throw new BulwarkError('BAD_REQUEST', 'the certificate expiry warning must be a number of days, 0 or more');
  options.signal?.throwIfAborted();
  const budget = new AbortController();
  const signal = options.signal === undefined ? budget.signal : AbortSignal.any([options.signal, budget.signal]);
  // Every probe and every queued pool slot listens on it, and removes itself when done.
  setMaxListeners(0, signal);
  const scan = new EndpointScan(checked, options, signal);
  const timer = setTimeout(() => {
    scan.budgetRanOut(budgetMs);
    budget.abort(new BudgetExhausted(`time budget of ${budgetMs} ms ran out`));
  }, budgetMs);
  try {
    return await scan.run();
  } finally {
    clearTimeout(timer);
  }
}

/** Scans several endpoints, `concurrency` at a time; results in the order of `targets`. */
export async function scanTlsEndpoints(targets: readonly TlsTarget[], options: TlsMultiScanOptions = {}): Promise<TlsScanResult[]> {
  // Every target is checked before the first connection, so a typo fails fast.
  const checked = targets.map((t) => validateTarget(t));
  const { concurrency = DEFAULT_ENDPOINT_CONCURRENCY, signal: callerSignal, ...rest } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new BulwarkError('BAD_REQUEST', 'TLS scan concurrency must be a whole number of at least 1');
  // A private view of the caller's signal: each waiting endpoint listens on it,
  // which would trip the listener-leak warning on the caller's own signal.
  const signal = callerSignal === undefined ? undefined : AbortSignal.any([callerSignal]);
  if (signal !== undefined) setMaxListeners(0, signal);
  const scanOptions: TlsScanOptions = signal === undefined ? rest : { ...rest, signal };
  const pool = new TaskPool(concurrency);
  return Promise.all(checked.map((t) => pool.run(() => scanTlsEndpoint(t, scanOptions), signal)));
}

/** One endpoint's scan: the steps, what they found, and what they left unfinished. */
class EndpointScan {
  private readonly started = performance.now();
  private readonly pool = new TaskPool(CONNECTIONS_PER_ENDPOINT);
  private readonly serverName: string | undefined;
  /** Steps under way, named for the `incomplete` message. */
  private readonly pending = new Set<string>();
  private readonly notes: string[] = [];
  private budgetNote: string | undefined;
  private nodeHandshakes = 0;

  constructor(
    private readonly target: TlsTarget,
    private readonly options: TlsScanOptions,
    private readonly signal: AbortSignal,
  ) {
    this.serverName = serverNameOf(target);
  }

  budgetRanOut(budgetMs: number): void {
    const unfinished = [...this.pending].join(', ');
    this.budgetNote = `time budget of ${budgetMs} ms ran out${unfinished === '' ? '' : ` during: ${unfinished}`}`;
  }

  async run(): Promise<TlsScanResult> {
    const address = await this.resolve();
    if (typeof address !== 'string') return this.finish({ tls: false, protocols: [], ...address });
    const prober = new Prober({
      address,
      port: this.target.port,
      ...(this.serverName === undefined ? {} : { serverName: this.serverName }),
      pool: this.pool,
      timeoutMs: PROBE_TIMEOUT_MS,
      signal: this.signal,
    });

    const probes: VersionProbe[] = TLS_VERSIONS.map((version) => ({
      version,
      answer: this.step(`${version} probe`, () => probeVersion(prober, version, codesFor(version))),
    }));
    // Each version's enumeration starts as soon as its own probe answers, the
    // certificate as soon as the best accepted version is known.
    const protocols = Promise.all(probes.map((p) => this.protocol(prober, p.version, p.answer)));
    const answers = Promise.all(probes.map(async (p) => ({ version: p.version, answer: await p.answer })));
    const [protocolResults, cert, settled] = await Promise.all([protocols, this.certificate(prober, address, probes), answers]);

    const outcomes = settled.flatMap((a) => (a.answer === undefined ? [] : [a.answer.outcome]));
    const tls = outcomes.some((o) => o.kind === 'server-hello' || o.kind === 'alert');
    const result: Omit<TlsScanResult, 'handshakes' | 'durationMs' | 'target'> = { address, tls, protocols: tls ? protocolResults : [] };
    if (!tls) {
      const unreachable = outcomes.find((o) => o.kind === 'unreachable');
      if (unreachable !== undefined && outcomes.every((o) => o.kind === 'unreachable')) result.error = `connection failed: ${describeOutcome(unreachable)}`;
      else if (outcomes.length > 0) result.notTlsReason = distinct(outcomes.map((o) => describeOutcome(o)));
    } else {
      this.noteUnanswered(settled);
      if (!protocolResults.some((p) => p.accepted)) {
        const alerts = distinct(outcomes.filter((o) => o.kind === 'alert').map((o) => describeOutcome(o)));
        const hint = this.serverName === undefined ? '; a server that needs SNI wants a serverName in the target' : '';
        result.error = `the server speaks TLS but accepted none of the versions and suites offered (${alerts})${hint}`;
      }
      if (cert.result !== undefined) result.certificate = cert.result;
      if (cert.error !== undefined) result.certificateError = cert.error;
    }
    return this.finish(result, prober.handshakes);
  }

  /** The address all probes use, or why there is none (an empty object when the budget ran out first). */
  private async resolve(): Promise<string | { error?: string }> {
    const resolved = await this.step('DNS lookup', () => resolveAddress(this.target.host, this.target.port, PROBE_TIMEOUT_MS, this.signal));
    if (resolved === undefined) return {};
    return 'address' in resolved ? resolved.address : resolved;
  }

  private async protocol(prober: Prober, version: TlsVersion, answer: Promise<VersionAnswer | undefined>): Promise<ProtocolResult> {
    const result: ProtocolResult = { version, accepted: false, suites: [], serverPreference: null };
    const first = (await answer)?.suite;
    if (first === undefined) return result;
    result.accepted = true;
    const enumeration = await this.step(`${version} suite enumeration`, () => enumerateSuites(prober, version, first, codesFor(version)));
    const codes = enumeration?.suites ?? [first];
    this.notes.push(...(enumeration?.problems ?? []));
    result.suites = codes.map(acceptedSuite);
    result.serverPreference = (await this.step(`${version} server preference`, () => detectServerPreference(prober, version, codes))) ?? null;
    return result;
  }

  /**
   * The chain over the best accepted version, through Node (which also verifies
   * it). When Node cannot negotiate (SSL 3, or only suites OpenSSL 3 lacks), the
   * chain is read from a raw TLS ≤ 1.2 handshake instead, unverified.
   */
  private async certificate(
    prober: Prober,
    address: string,
    probes: readonly VersionProbe[],
  ): Promise<{ result?: CertificateResult; error?: string }> {
    const best = await bestAccepted(probes);
    if (best === undefined) return {};
    const now = this.options.now ?? Date.now();
    const expiryWarningDays = this.options.expiryWarningDays ?? DEFAULT_EXPIRY_WARNING_DAYS;
    const common = { now, expiryWarningDays, ...(this.serverName === undefined ? {} : { hostname: this.serverName }) };
    let nodeError = 'Node cannot speak SSLv3';
    if (best !== 'SSLv3') {
      const fetched = await this.step('certificate', () =>
        this.pool.run(() => {
          this.nodeHandshakes++;
          return fetchChain({
            address,
            port: this.target.port,
            ...(this.serverName === undefined ? {} : { serverName: this.serverName }),
            version: best,
            ...(this.options.ca === undefined ? {} : { ca: this.options.ca }),
            timeoutMs: PROBE_TIMEOUT_MS,
            signal: this.signal,
          });
        }, this.signal).catch((err: unknown) => {
          if (this.signal.aborted) throw err;
          nodeError = err instanceof Error ? err.message : String(err);
          return undefined;
        }),
      );
      if (fetched !== undefined && fetched.chain.length > 0) {
        const trust = fetched.authorizationError === undefined ? { trusted: fetched.authorized } : { trusted: fetched.authorized, error: fetched.authorizationError };
        return { result: inspectCertificate({ chain: fetched.chain, protocol: best, source: 'node-tls', trust, ...common }) };
      }
      if (this.signal.aborted) return {};
    }
    const legacy = best === 'TLSv1.3' ? await bestAccepted(probes.filter((p) => p.version !== 'TLSv1.3')) : best;
    if (legacy === undefined) return { error: `Node's TLS client failed (${nodeError})` };
    const withCertificate = suitesForVersion(legacy).filter((s) => !s.anonymous).map((s) => s.code);
    const raw = await this.step('certificate (raw handshake)', () => prober.offer(legacy, withCertificate, true));
    if (raw?.kind === 'server-hello' && raw.certificates.state === 'present' && raw.certificates.chain.length > 0) {
      return { result: inspectCertificate({ chain: raw.certificates.chain, protocol: legacy, source: 'handshake', trust: null, ...common }) };
    }
    if (raw === undefined) return {};
    const why = raw.kind === 'server-hello' ? `certificate ${raw.certificates.state}` : describeOutcome(raw);
    return { error: `Node's TLS client failed (${nodeError}) and a raw ${legacy} handshake gave no certificate (${why})` };
  }

  /** Version probes without a usable answer make the result partial even within the budget. */
  private noteUnanswered(answers: readonly VersionAnswers[]): void {
    for (const { version, answer } of answers) {
      const outcome = answer?.outcome;
      if (outcome?.kind === 'timeout' || outcome?.kind === 'unreachable' || outcome?.kind === 'not-tls') {
        this.notes.push(`${version} probe: ${describeOutcome(outcome)}`);
      }
    }
  }

  /** Runs a step; when the budget runs out it yields undefined (the result stays partial), a caller's abort rejects. */
  private async step<T>(name: string, fn: () => Promise<T>): Promise<T | undefined> {
    this.pending.add(name);
    try {
      return await fn();
    } catch (err) {
      if (err instanceof BudgetExhausted) return undefined;
      throw err;
    } finally {
      this.pending.delete(name);
    }
  }

  private finish(partial: Omit<TlsScanResult, 'handshakes' | 'durationMs' | 'target'>, rawHandshakes = 0): TlsScanResult {
    const result: TlsScanResult = {
      target: this.target,
      ...partial,
      handshakes: rawHandshakes + this.nodeHandshakes,
      durationMs: Math.round(performance.now() - this.started),
    };
    const incomplete = [...(this.budgetNote === undefined ? [] : [this.budgetNote]), ...this.notes];
    if (incomplete.length > 0) result.incomplete = incomplete.join('; ');
    return result;
  }
}

/** The newest accepted version, waiting only for the probes of versions newer than it. */
async function bestAccepted(probes: readonly VersionProbe[]): Promise<TlsVersion | undefined> {
  for (const probe of [...probes].reverse()) {
    if ((await probe.answer)?.suite !== undefined) return probe.version;
  }
  return undefined;
}

function codesFor(version: TlsVersion): number[] {
  return suitesForVersion(version).map((s) => s.code);
}

function acceptedSuite(code: number): AcceptedSuite {
  const suite = suiteByCode(code);
  if (suite === undefined) throw new Error(`suite 0x${code.toString(16)} is not in the table it was offered from`);
  return { name: suite.name, code, openssl: suite.openssl, class: suite.class, anonymous: suite.anonymous, mac: suite.mac };
}

/** The distinct answers, in one line. */
function distinct(descriptions: string[]): string {
  return [...new Set(descriptions)].join('; ');
}
