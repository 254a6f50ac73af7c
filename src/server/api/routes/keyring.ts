import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { systemClock } from '../../../core/clock.js';
import { BulwarkError } from '../../../core/errors.js';
import { FailureLimiter } from '../../../core/rate-limiter.js';
import { KeyringStatusSchema, RekeyedSchema, RekeyRequestSchema, RotatedSchema, SealStatusSchema, UnsealRequestSchema } from '../../../protocol/keyring.js';
import type { KeyringControl } from '../services.js';

/**
 * Unseal attempts are not authenticated (the passphrase or share is the
 * credential): wrong ones — and resets, which anyone could otherwise use to wipe
 * the shares given so far — are limited per source address to 10 a minute, and
 * at most two attempts are in flight at once (a passphrase costs one scrypt run;
 * a queue of them would let requests pass the per-address check before their
 * failures count, and would keep the operator's own attempt waiting).
 */
interface UnsealGate {
  failures: FailureLimiter;
  inFlight: number;
}
const gates = new WeakMap<KeyringControl, UnsealGate>();
const MAX_IN_FLIGHT = 2;

function gateFor(control: KeyringControl): UnsealGate {
  let gate = gates.get(control);
  if (!gate) {
    gate = { failures: new FailureLimiter({ maxFailures: 10, windowMs: 60_000, clock: systemClock, maxKeys: 10_000 }), inFlight: 0 };
    gates.set(control, gate);
  }
  return gate;
}

/** `GET /v1/sys/seal-status` and `POST /v1/sys/unseal`: served sealed and unsealed alike. */
export function registerUnsealRoutes(app: FastifyInstance, control: KeyringControl): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get('/v1/sys/seal-status', { config: { permission: 'public' }, schema: { response: { 200: SealStatusSchema } } }, async () => control.sealStatus());
  api.post(
    '/v1/sys/unseal',
    { config: { permission: 'public' }, schema: { body: UnsealRequestSchema, response: { 200: SealStatusSchema } } },
    async (request) => {
      const gate = gateFor(control);
      const wait = gate.failures.retryAfter(request.ip);
      if (wait > 0) throw new BulwarkError('RATE_LIMITED', 'too many failed unseal attempts from this address; wait a minute', { retryAfterMs: wait });
      if (!control.sealStatus().sealed) return control.sealStatus();
      if (gate.inFlight >= MAX_IN_FLIGHT) throw new BulwarkError('RATE_LIMITED', 'another unseal attempt is being checked; try again in a second', { retryAfterMs: 1000 });
      if (request.body.reset) gate.failures.fail(request.ip);
      gate.inFlight++;
      try {
        return await control.unseal({ ...request.body, source: request.ip });
      } catch (err) {
        if (err instanceof BulwarkError && (err.code === 'UNSEAL_FAILED' || err.code === 'INVALID_SHARE' || err.code === 'BAD_REQUEST')) gate.failures.fail(request.ip);
        throw err;
      } finally {
        gate.inFlight--;
      }
    },
  );
}

/** Seal, key status, rotation and rekey: only on an unsealed server. */
export function registerKeyringRoutes(app: FastifyInstance, services: { keyring: KeyringControl }): void {
  const control = services.keyring;
  registerUnsealRoutes(app, control);
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.post('/v1/sys/seal', { config: { permission: { resource: 'keyring', verb: 'seal' } }, schema: { response: { 202: SealStatusSchema } } }, async (request, reply) => {
    const actor = request.principal?.actor ?? 'unknown';
    // Sealing stops the app answering this request: answer first, then seal.
    reply.raw.once('finish', () => void control.seal(actor));
    return reply.status(202).send({ ...control.sealStatus(), sealed: true });
  });
  api.get('/v1/keys/status', { config: { permission: { resource: 'keyring', verb: 'read' } }, schema: { response: { 200: KeyringStatusSchema } } }, async () => control.keyStatus());
  api.post('/v1/keys/rotate', { config: { permission: { resource: 'keyring', verb: 'rotate' } }, schema: { response: { 200: RotatedSchema } } }, async () => ({
    version: await control.rotate(),
  }));
  api.post(
    '/v1/keys/rekey',
    { config: { permission: { resource: 'keyring', verb: 'rekey' } }, schema: { body: RekeyRequestSchema, response: { 200: RekeyedSchema } } },
    async (request) => {
      const body = request.body;
      const choice =
        body.method === 'file'
          ? { method: 'file' as const }
          : body.method === 'passphrase'
            ? { method: 'passphrase' as const, passphrase: body.passphrase ?? '' }
            : { method: 'shamir' as const, shares: body.shares ?? 0, threshold: body.threshold ?? 0 };
      return control.rekey(choice);
    },
  );
}
