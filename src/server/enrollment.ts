import type { Clock } from '../core/clock.js';
import { BulwarkError, isBulwarkError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { Logger } from '../core/logger.js';
import { FailureLimiter } from '../core/rate-limiter.js';
import type { JoinRequest, JoinResponse } from '../protocol/agent.js';
import { verifyCsr } from '../pki/csr.js';
import type { Store } from '../store/open.js';
import { insertNode } from '../store/nodes.js';
import type { EventLog } from './event-log.js';
import type { JoinTokenService } from './join-tokens.js';
import type { PkiService } from './pki-service.js';
import type { Auditor } from './api/guard.js';
import { randomUUID } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

const FAILURE_CODES = new Set(['TOKEN_INVALID', 'TOKEN_EXPIRED', 'TOKEN_USED_UP', 'INVALID_CSR', 'BAD_REQUEST']);

/**
 * The key failed joins are counted under: an IPv4 address as it is, an IPv6
 * address by its /64 — one host usually holds a whole /64, so counting single
 * addresses would give it 2^64 fresh budgets. IPv4-mapped IPv6 counts as IPv4.
 */
export function joinLimiterKey(source: string): string {
  const address = source.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped?.[1] && isIPv4(mapped[1])) return mapped[1];
  if (!isIPv6(address)) return source;
  const groups = expandIpv6(address);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : source;
}

/** The eight 16-bit groups of an IPv6 address, as lower-case hex without leading zeros. */
function expandIpv6(address: string): string[] | undefined {
  let text = address.toLowerCase();
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = 8 - left.length - right.length;
  if (missing < 0 || (tail === undefined && missing !== 0)) return undefined;
  return [...left, ...Array<string>(missing).fill('0'), ...right].map((g) => parseInt(g, 16).toString(16));
}

/** Turns a join token and a CSR into a node and its first certificate. */
export class Enrollment {
  readonly #limiter: FailureLimiter;

  constructor(
    private readonly deps: {
      store: Store;
      clock: Clock;
      log: Logger;
      events: EventLog;
      tokens: JoinTokenService;
      pki: PkiService;
      audit: Auditor;
      clusterName: string;
      joinFailuresPerMinute: number;
    },
  ) {
    this.#limiter = new FailureLimiter({ maxFailures: deps.joinFailuresPerMinute, windowMs: 60_000, clock: deps.clock });
  }

  async join(request: JoinRequest, source: string): Promise<JoinResponse> {
    const key = joinLimiterKey(source);
    const wait = this.#limiter.retryAfter(key);
    if (wait > 0) {
      throw new BulwarkError('RATE_LIMITED', `too many failed join attempts from ${source}; retry in ${Math.ceil(wait / 1000)} s`, { retryAfterMs: wait });
    }
    const requestId = randomUUID();
    // Audited before it acts, as every write is: if the log cannot be written, nothing is joined.
    await this.#audit(requestId, source, '/v1/join', 'none', 'success', { phase: 'started', hostname: request.hostname });
    try {
      const response = await this.#join(request, source);
      await this.#audit(requestId, source, `/v1/nodes/${response.nodeId}`, 'allow', 'success', { hostname: request.hostname, labels: response.labels });
      return response;
    } catch (err) {
      if (isBulwarkError(err) && FAILURE_CODES.has(err.code)) {
        this.#limiter.fail(key);
        await this.deps.events.append('node.join_refused', null, { source, code: err.code, hostname: request.hostname });
        await this.#audit(requestId, source, '/v1/join', 'deny', 'failure', { hostname: request.hostname, errorCode: err.code });
      }
      throw err;
    }
  }

  #audit(requestId: string, source: string, resource: string, decision: 'allow' | 'deny' | 'none', outcome: 'success' | 'failure', details: Record<string, unknown>): Promise<unknown> {
    // The token's id names who let the node in; the token itself never reaches the log.
    return this.deps.audit.append({ actor: 'agent-join', action: 'nodes.join', resource, decision, source, requestId, outcome, details });
  }

  async #join(request: JoinRequest, source: string): Promise<JoinResponse> {
    // The CSR is checked before a use of the token is spent on it.
    await verifyCsr(request.csr);
    const token = await this.deps.tokens.redeem(request.token);
    const now = this.deps.clock.now();
    const nodeId = newId('node');
    await insertNode(this.deps.store.db, {
      id: nodeId,
      name: request.hostname,
      labels: token.labels,
      state: 'pending',
      facts: null,
      factsHash: null,
      certSerial: null,
      certNotAfter: null,
      agentVersion: request.agentVersion,
      protocolVersion: null,
      joinTokenId: token.id,
      joinedAt: now,
      lastSeenAt: null,
      stateChangedAt: now,
      removedAt: null,
    });
    const cert = await this.deps.pki.issueNodeCertificate(nodeId, request.csr);
    await this.deps.events.append('node.joined', nodeId, { name: request.hostname, source, tokenId: token.id, labels: token.labels });
    await this.deps.events.append('cert.issued', nodeId, { serial: cert.serial, notAfter: cert.notAfter });
    return {
      nodeId,
      clusterName: this.deps.clusterName,
      certificate: cert.pem,
      caCertificate: this.deps.pki.caCertPem,
      notAfter: cert.notAfter,
      labels: token.labels,
    };
  }
}
