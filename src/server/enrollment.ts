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

const FAILURE_CODES = new Set(['TOKEN_INVALID', 'TOKEN_EXPIRED', 'TOKEN_USED_UP', 'INVALID_CSR', 'BAD_REQUEST']);

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
      clusterName: string;
      joinFailuresPerMinute: number;
    },
  ) {
    this.#limiter = new FailureLimiter({ maxFailures: deps.joinFailuresPerMinute, windowMs: 60_000, clock: deps.clock });
  }

  async join(request: JoinRequest, source: string): Promise<JoinResponse> {
    const wait = this.#limiter.retryAfter(source);
    if (wait > 0) {
      throw new BulwarkError('RATE_LIMITED', `too many failed join attempts from ${source}; retry in ${Math.ceil(wait / 1000)} s`, { retryAfterMs: wait });
    }
    try {
      return await this.#join(request, source);
    } catch (err) {
      if (isBulwarkError(err) && FAILURE_CODES.has(err.code)) {
        this.#limiter.fail(source);
        await this.deps.events.append('node.join_refused', null, { source, code: err.code, hostname: request.hostname });
      }
      throw err;
    }
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
