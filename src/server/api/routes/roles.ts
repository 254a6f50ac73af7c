import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { AccessCheckSchema, AccessTestRequestSchema, AccessTestResultSchema, ApplyRolesSchema, DecisionSchema, RoleListSchema, RoleParamsSchema, RoleSchema } from '../../../protocol/access.js';
import { BulwarkError } from '../../../core/errors.js';
import { isBuiltinRoleName, type Role } from '../../../access/roles.js';
import { parseRolesYaml } from '../../../access/role-yaml.js';
import { authorize, type Decision } from '../../../access/evaluate.js';
import { parsePolicyTests, runPolicyTests } from '../../../access/policy-tests.js';
import type { ApiServices } from '../services.js';
import { scopedNode } from './nodes.js';
import type { Principal } from '../permissions.js';

function view(role: Role) {
  return { ...role, builtin: isBuiltinRoleName(role.name) };
}

export function decisionView(d: Decision) {
  return {
    allowed: d.allowed,
    explanation: d.explanation,
    kind: d.reason.kind,
    ...(d.reason.role !== undefined ? { role: d.reason.role } : {}),
    ...(d.reason.ruleIndex !== undefined ? { ruleIndex: d.reason.ruleIndex } : {}),
  };
}

function callerOf(request: { principal?: Principal }): Principal {
  if (!request.principal) throw new BulwarkError('UNAUTHENTICATED', 'log in first');
  return request.principal;
}

export function registerRoleRoutes(app: FastifyInstance, services: ApiServices): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const access = services.access;
  api.put(
    '/v1/roles',
    { config: { permission: { resource: 'roles', verb: 'create' } }, schema: { body: ApplyRolesSchema, response: { 200: RoleListSchema } } },
    async (request) => ({ roles: (await access.apply(callerOf(request), parseRolesYaml(request.body.yaml))).map(view) }),
  );
  api.get('/v1/roles', { config: { permission: { resource: 'roles', verb: 'list' } }, schema: { response: { 200: RoleListSchema } } }, async () => ({
    roles: (await access.allRoles()).map(view),
  }));
  api.get(
    '/v1/roles/:name',
    { config: { permission: { resource: 'roles', verb: 'read' } }, schema: { params: RoleParamsSchema, response: { 200: RoleSchema } } },
    async (request) => {
      const role = await access.role(request.params.name);
      if (!role) throw new BulwarkError('NOT_FOUND', `role "${request.params.name}" does not exist; list roles with \`bulwark role ls\``);
      return view(role);
    },
  );
  api.delete('/v1/roles/:name', { config: { permission: { resource: 'roles', verb: 'delete' } }, schema: { params: RoleParamsSchema } }, async (request, reply) => {
    await access.remove(callerOf(request), request.params.name);
    return reply.status(204).send();
  });

  /** Explains a decision for a user or role, exactly as every route would take it. */
  api.post(
    '/v1/access/check',
    { config: { permission: { resource: 'roles', verb: 'read' } }, schema: { body: AccessCheckSchema, response: { 200: DecisionSchema } } },
    async (request) => {
      const body = request.body;
      const roleNames = body.user !== undefined ? (await services.identity.getUser(body.user)).roles : [body.role ?? ''];
      if (body.role !== undefined) await access.assertRolesExist([body.role]);
      // A node is looked up only within what the caller may read, so this is no oracle for hidden nodes.
      const labels = body.node !== undefined ? (await scopedNode(services, request, body.node, 'read')).labels : body.labels;
      const decision = authorize(await access.resolve(roleNames), {
        resource: body.resource,
        verb: body.verb,
        ...(labels ? { node: { labels } } : {}),
        ...(body.principal ? { principal: body.principal } : {}),
      });
      return decisionView(decision);
    },
  );

  /** Runs policy assertions against the current roles, so a role change can be gated in CI. */
  api.post(
    '/v1/access/test',
    { config: { permission: { resource: 'roles', verb: 'read' } }, schema: { body: AccessTestRequestSchema, response: { 200: AccessTestResultSchema } } },
    async (request) => {
      const tests = parsePolicyTests(request.body.yaml);
      const bySubject = new Map<string, Role[]>();
      for (const t of tests) {
        const key = t.user !== undefined ? `user:${t.user}` : `role:${t.role ?? ''}`;
        if (bySubject.has(key)) continue;
        const names = t.user !== undefined ? (await services.identity.getUser(t.user)).roles : [t.role ?? ''];
        if (t.role !== undefined) await access.assertRolesExist([t.role]);
        bySubject.set(key, await access.resolve(names));
      }
      const results = runPolicyTests(tests, (t) => bySubject.get(t.user !== undefined ? `user:${t.user}` : `role:${t.role ?? ''}`) ?? []);
      return {
        results: results.map((r) => ({ name: r.name, passed: r.passed, expected: r.expected, decision: decisionView(r.decision) })),
      };
    },
  );
}
