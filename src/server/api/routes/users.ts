import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  CreateUserSchema,
  CreatedUserSchema,
  SessionListSchema,
  SetPasswordSchema,
  SetRolesSchema,
  UserListSchema,
  UserParamsSchema,
  UserSchema,
  type UserView,
} from '../../../protocol/access.js';
import { z } from 'zod';
import type { UserRecord } from '../../../store/users.js';
import type { ApiServices } from '../services.js';
import { BulwarkError } from '../../../core/errors.js';

function view(u: UserRecord): UserView {
  return {
    name: u.name,
    roles: u.roles,
    mfaEnrolled: u.mfaEnrolledAt !== null,
    locked: u.lockedAt !== null,
    failedLogins: u.failedLogins,
    createdAt: u.createdAt,
    lastLoginAt: u.lastLoginAt,
  };
}

export function registerUserRoutes(app: FastifyInstance, services: ApiServices): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const id = services.identity;
  api.post(
    '/v1/users',
    { config: { permission: { resource: 'users', verb: 'create' } }, schema: { body: CreateUserSchema, response: { 201: CreatedUserSchema } } },
    async (request, reply) => {
      const { user, password } = await id.createUser(request.principal, request.body);
      return reply.status(201).send({ ...view(user), ...(password ? { password } : {}) });
    },
  );
  api.get('/v1/users', { config: { permission: { resource: 'users', verb: 'list' } }, schema: { response: { 200: UserListSchema } } }, async () => ({
    users: (await id.listUsers()).map(view),
  }));
  api.get(
    '/v1/users/:name',
    { config: { permission: { resource: 'users', verb: 'read' } }, schema: { params: UserParamsSchema, response: { 200: UserSchema } } },
    async (request) => view(await id.getUser(request.params.name)),
  );
  api.delete('/v1/users/:name', { config: { permission: { resource: 'users', verb: 'delete' } }, schema: { params: UserParamsSchema } }, async (request, reply) => {
    await id.removeUser(request.params.name);
    return reply.status(204).send();
  });
  for (const [path, locked] of [
    ['lock', true],
    ['unlock', false],
  ] as const) {
    api.post(
      `/v1/users/:name/${path}`,
      { config: { permission: { resource: 'users', verb: 'update' } }, schema: { params: UserParamsSchema, response: { 200: UserSchema } } },
      async (request) => view(await id.setLocked(request.params.name, locked)),
    );
  }
  api.put(
    '/v1/users/:name/roles',
    { config: { permission: { resource: 'users', verb: 'update' } }, schema: { params: UserParamsSchema, body: SetRolesSchema, response: { 200: UserSchema } } },
    async (request) => {
      if (!request.principal) throw new BulwarkError('UNAUTHENTICATED', 'log in first');
      return view(await id.setRoles(request.principal, request.params.name, request.body.roles));
    },
  );
  api.put(
    '/v1/users/:name/password',
    { config: { permission: { resource: 'users', verb: 'update' } }, schema: { params: UserParamsSchema, body: SetPasswordSchema } },
    async (request, reply) => {
      await id.setPassword(request.params.name, request.body.password);
      return reply.status(204).send();
    },
  );
  api.get('/v1/sessions', { config: { permission: { resource: 'sessions', verb: 'list' } }, schema: { response: { 200: SessionListSchema } } }, async () => {
    const users = new Map((await id.listUsers()).map((u) => [u.id, u.name]));
    const sessions = await id.listSessions();
    return {
      sessions: sessions.map((s) => ({
        id: s.id,
        user: users.get(s.userId) ?? s.userId,
        createdAt: s.createdAt,
        expiresAt: s.expiresAt,
        lastUsedAt: s.lastUsedAt,
        source: s.source,
        mfa: s.mfa,
      })),
    };
  });
  api.delete(
    '/v1/sessions/:id',
    { config: { permission: { resource: 'sessions', verb: 'delete' } }, schema: { params: z.object({ id: z.string().min(1).max(64) }) } },
    async (request, reply) => {
      await id.revokeSession(request.params.id);
      return reply.status(204).send();
    },
  );
}
