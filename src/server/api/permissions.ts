/** What a route needs: a resource and a verb on it, or nothing (health, CRL, OpenAPI). */
export type Permission = { resource: string; verb: string } | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    permission?: Permission;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

export interface Principal {
  kind: 'api-token';
  id: string;
  name: string;
  role: string;
}

export interface RouteEntry {
  method: string;
  url: string;
  permission: Permission | undefined;
}

/**
 * Until users and roles arrive, the admin role may do everything and any other
 * role nothing: default deny.
 */
export function isAllowed(principal: Principal, permission: Exclude<Permission, 'public'>): boolean {
  void permission;
  return principal.role === 'admin';
}
