import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { BulwarkError } from '../../../core/errors.js';
import { SshCaSchema, SshSignRequestSchema, SshSignResponseSchema } from '../../../protocol/ssh.js';
import { parseSshPublicKey } from '../../../pki/ssh-keys.js';
import { signSshUserCertificate } from '../../../pki/ssh-cert.js';
import { nextSshSerial } from '../../ssh-ca.js';
import type { ApiServices } from '../services.js';

/** Certificates start a minute early, for clock skew between this server and the hosts. */
const BACKDATE_MS = 60_000;

export function registerSshRoutes(app: FastifyInstance, services: ApiServices): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get('/v1/ssh/ca', { config: { permission: { resource: 'cluster', verb: 'read' } }, schema: { response: { 200: SshCaSchema } } }, async () => ({
    publicKey: services.sshCa.publicKey,
    fingerprint: services.sshCa.fingerprint,
  }));

  /** Signs a short-lived user certificate for logins the caller's roles allow, every one of them checked. */
  api.post(
    '/v1/ssh/sign',
    { config: { permission: { resource: 'ssh', verb: 'sign' } }, schema: { body: SshSignRequestSchema, response: { 200: SshSignResponseSchema } } },
    async (request) => {
      const principal = request.principal;
      if (!principal) throw new BulwarkError('UNAUTHENTICATED', 'log in first');
      const key = parseSshPublicKey(request.body.publicKey);
      const principals = [...new Set(request.body.principals)];
      for (const login of principals) {
        const decision = await services.access.decide(principal, { resource: 'ssh', verb: 'sign', principal: login });
        if (!decision.allowed) throw new BulwarkError('FORBIDDEN', `you may not log in as "${login}": ${decision.explanation}`);
      }
      const now = services.clock.now();
      const serial = await nextSshSerial(services.store, services.clock);
      const validAfter = now - BACKDATE_MS;
      const validBefore = now + request.body.ttlSeconds * 1000;
      const keyId = `${principal.actor}@bulwark`;
      const certificate = signSshUserCertificate({
        caPrivateKeyPem: services.sshCa.privateKeyPem,
        caPublicKey: services.sshCa.publicKey,
        publicKey: key,
        keyId,
        principals,
        validAfter,
        validBefore,
        serial,
      });
      await services.audit.append({
        actor: principal.actor,
        action: 'ssh.sign',
        resource: `ssh/cert/${serial}`,
        decision: 'allow',
        source: request.ip,
        requestId: request.id,
        outcome: 'success',
        details: { principals, serial: serial.toString(), keyId, keyFingerprint: key.fingerprint, validBefore },
      });
      return { certificate, serial: serial.toString(), keyId, principals, validAfter: Math.floor(validAfter / 1000) * 1000, validBefore: Math.floor(validBefore / 1000) * 1000 };
    },
  );
}
