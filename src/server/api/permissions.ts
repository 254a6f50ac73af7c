import type { Principal } from '../access-service.js';

/**
 * What a route needs: a resource and a verb on it; any logged-in caller
 * ('authenticated': logout, MFA enrolment); or nothing ('public': health, CRL,
 * OpenAPI, login).
 */
export type Permission = { resource: string; verb: string } | 'public' | 'authenticated';

declare module 'fastify' {
  interface FastifyContextConfig {
    permission?: Permission;
    /** Routes a caller may use before enrolling the MFA one of its roles requires. */
    allowWithoutMfa?: boolean;
  }
  interface FastifyRequest {
    principal?: Principal;
    /** Set once the request's final audit entry is written, so it is written once. */
    audited?: boolean;
  }
}

export type { Principal };

export interface RouteEntry {
  method: string;
  url: string;
  permission: Permission | undefined;
}
