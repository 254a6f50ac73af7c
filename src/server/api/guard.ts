import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../../core/clock.js';
import { BulwarkError, errorBody, isBulwarkError } from '../../core/errors.js';
import { FailureLimiter } from '../../core/rate-limiter.js';
import type { AccessService } from '../access-service.js';
import type { IdentityService } from '../identity-service.js';
import type { Permission } from './permissions.js';

/** What the guard writes to the audit log; the audit service adds time, sequence and hashes. */
export interface AuditRecordInput {
  actor: string;
  action: string;
  resource: string;
  decision: 'allow' | 'deny' | 'none';
  source: string;
  requestId: string;
  outcome: 'success' | 'failure' | 'error';
  details: Record<string, unknown>;
}

export interface Auditor {
  append(input: AuditRecordInput): Promise<unknown>;
}

const MUTATING_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Verbs that change nothing, whatever the HTTP method (`access check` is a POST). */
const READ_VERBS = new Set(['list', 'read', 'verify', 'export']);

/** Whether a request may change something: it is then audited before it acts, as well as after. */
function isMutating(request: FastifyRequest): boolean {
  const permission = request.routeOptions.config.permission;
  if (typeof permission === 'object' && READ_VERBS.has(permission.verb)) return false;
  return MUTATING_METHODS.has(request.method);
}

/**
 * Authentication, authorisation and the audit trail of the operator API, in one
 * place every route passes through:
 * - onRequest: who is calling (API token or session), the MFA gate, and whether
 *   the route's (resource, verb) is allowed at all — a denial is audited first;
 * - preHandler: a mutating request is audited before it acts, so a log that
 *   cannot be written stops it (fail closed);
 * - onSend: every authenticated request's outcome is audited before the answer
 *   leaves; if that write fails the caller gets 503, not the data.
 */
export function installGuard(app: FastifyInstance, deps: { identity: IdentityService; access: AccessService; audit: Auditor; clock: Clock }): void {
  const badCredentials = new FailureLimiter({ maxFailures: 20, windowMs: 60_000, clock: deps.clock });

  const record = async (request: FastifyRequest, entry: Pick<AuditRecordInput, 'decision' | 'outcome'> & { actor?: string; details?: Record<string, unknown> }): Promise<void> => {
    const permission = request.routeOptions.config.permission;
    try {
      await deps.audit.append({
        actor: entry.actor ?? request.principal?.actor ?? 'anonymous',
        action: actionOf(permission),
        resource: request.url.split('?')[0] ?? '',
        decision: entry.decision,
        source: request.ip,
        requestId: request.id,
        outcome: entry.outcome,
        details: { method: request.method, route: request.routeOptions.url ?? null, ...entry.details },
      });
    } catch (err) {
      request.log.error({ err }, 'audit log write failed; refusing the request');
      if (isBulwarkError(err) && err.code === 'AUDIT_UNAVAILABLE') throw err;
      throw new BulwarkError('AUDIT_UNAVAILABLE', 'the audit log cannot be written, so the request was refused; the server log has the detail');
    }
  };

  const deny = async (request: FastifyRequest, error: BulwarkError, actor?: string): Promise<never> => {
    await record(request, { decision: 'deny', outcome: 'failure', ...(actor ? { actor } : {}), details: { errorCode: error.code } });
    request.audited = true;
    throw error;
  };

  app.addHook('onRequest', async (request) => {
    const permission = request.routeOptions.config.permission;
    if (permission === undefined || permission === 'public') return;
    const header = request.headers.authorization;
    let failure: BulwarkError | undefined;
    if (header === undefined || !header.startsWith('Bearer ')) {
      const missing = new BulwarkError('UNAUTHENTICATED', 'missing credentials: log in with `bulwark login`, or send "Authorization: Bearer <token>"');
      // Always 401, but past the per-source limit no longer audited one by one: anonymous callers must not be able to flood the log.
      const quiet = badCredentials.retryAfter(request.ip) > 0;
      badCredentials.fail(request.ip);
      if (quiet) {
        request.audited = true;
        throw missing;
      }
      await deny(request, missing);
    } else {
      try {
        request.principal = await deps.identity.authenticate(header.slice('Bearer '.length).trim());
      } catch (err) {
        if (!isBulwarkError(err)) throw err;
        failure = err;
      }
    }
    if (failure) {
      // Only bad credentials count, so a neighbour sending garbage cannot lock out a valid token.
      // Past the limit, refusals are not audited one by one: an unauthenticated caller must not be able to flood the log.
      const wait = badCredentials.retryAfter(request.ip);
      badCredentials.fail(request.ip);
      if (wait > 0) {
        request.audited = true;
        throw new BulwarkError('RATE_LIMITED', `too many bad credentials from ${request.ip}; retry in ${Math.ceil(wait / 1000)} s`, { retryAfterMs: wait });
      }
      await deny(request, failure);
    }
    const principal = request.principal;
    if (!principal) return;
    if (!request.routeOptions.config.allowWithoutMfa && (await deps.access.requiresMfa(principal))) {
      await deny(request, new BulwarkError('MFA_ENROLLMENT_REQUIRED', 'a role of yours requires MFA: run `bulwark mfa enroll`, then log in again with a code'));
    }
    if (permission === 'authenticated') return;
    if (!(await deps.access.mayAttempt(principal, permission.resource, permission.verb))) {
      await deny(request, new BulwarkError('FORBIDDEN', `your roles (${principal.roles.join(', ')}) do not allow ${permission.verb} on ${permission.resource}`));
    }
  });

  app.addHook('preHandler', async (request) => {
    if (request.principal && isMutating(request)) await record(request, { decision: 'allow', outcome: 'success', details: { phase: 'started' } });
  });

  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (!request.principal || request.audited) return payload;
    request.audited = true;
    try {
      await record(request, { decision: 'allow', outcome: reply.statusCode < 400 ? 'success' : 'failure', details: { status: reply.statusCode, ...(isMutating(request) ? { phase: 'finished' } : {}) } });
      return payload;
    } catch (err) {
      const error = isBulwarkError(err) ? err : new BulwarkError('AUDIT_UNAVAILABLE', 'the audit log cannot be written');
      void reply.status(error.status).header('content-type', 'application/json; charset=utf-8');
      return JSON.stringify(errorBody(error));
    }
  });
}

function actionOf(permission: Permission | undefined): string {
  if (permission === undefined || permission === 'public') return 'request';
  if (permission === 'authenticated') return 'session';
  return `${permission.resource}.${permission.verb}`;
}
