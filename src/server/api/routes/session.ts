import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { LoginRequestSchema, LoginResponseSchema, MfaConfirmSchema, MfaEnrollRequestSchema, MfaEnrollResponseSchema, WhoAmISchema } from '../../../protocol/access.js';
import { BulwarkError } from '../../../core/errors.js';
import type { ApiServices } from '../services.js';
import type { Principal } from '../permissions.js';

function principalOf(request: { principal?: Principal }): Principal {
  if (!request.principal) throw new BulwarkError('UNAUTHENTICATED', 'log in first');
  return request.principal;
}

export function registerSessionRoutes(app: FastifyInstance, services: ApiServices): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  // Public: the login itself is rate-limited per account and per source, and audited by the identity service.
  api.post(
    '/v1/login',
    { config: { permission: 'public' }, schema: { body: LoginRequestSchema, response: { 200: LoginResponseSchema } } },
    async (request) => services.identity.login({ ...request.body, source: request.ip }),
  );
  api.post('/v1/logout', { config: { permission: 'authenticated', allowWithoutMfa: true } }, async (request, reply) => {
    await services.identity.logout(principalOf(request));
    return reply.status(204).send();
  });
  api.get(
    '/v1/whoami',
    { config: { permission: 'authenticated', allowWithoutMfa: true }, schema: { response: { 200: WhoAmISchema } } },
    async (request) => {
      const p = principalOf(request);
      return { actor: p.actor, kind: p.kind, roles: p.roles, mfa: p.mfa, mfaEnrollmentRequired: await services.access.requiresMfa(p) };
    },
  );
  api.post(
    '/v1/mfa/enroll',
    { config: { permission: 'authenticated', allowWithoutMfa: true }, schema: { body: MfaEnrollRequestSchema, response: { 200: MfaEnrollResponseSchema } } },
    async (request) => services.identity.beginMfaEnrollment(principalOf(request), request.body?.currentCode),
  );
  api.post(
    '/v1/mfa/confirm',
    { config: { permission: 'authenticated', allowWithoutMfa: true }, schema: { body: MfaConfirmSchema } },
    async (request, reply) => {
      await services.identity.confirmMfaEnrollment(principalOf(request), request.body.code);
      return reply.status(204).send();
    },
  );
}
