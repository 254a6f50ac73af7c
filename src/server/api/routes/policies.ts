import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BulwarkError } from '../../../core/errors.js';
import { BUILTIN_PACK_IDS, loadBuiltinPack } from '../../../checks/packs/index.js';
import { PolicyAddedSchema, PolicyListSchema, PolicyParamsSchema, PolicyUploadSchema, VulnDbImportedSchema, VulnDbStatsSchema } from '../../../protocol/checks.js';
import type { StoredPolicy } from '../../../store/audit-policies.js';
import type { ApiServices } from '../services.js';

/** Policy files go up to 1 MiB, what an audit request carries (the real CIS Debian policy is 0.6 MiB); the default body limit is far lower. */
const POLICY_BODY_LIMIT = 2 * 1024 * 1024;
/**
 * The Debian security tracker's full JSON is some 70 MB. Parsing JSON takes
 * about 14 times its size in memory, so the limit stays well below what would
 * exhaust a server's heap; larger data sets are imported in several files.
 */
export const VULNDB_BODY_LIMIT = 128 * 1024 * 1024;

function customView(p: StoredPolicy) {
  return { id: p.id, name: p.name, format: p.format, checkCount: p.checkCount, builtin: false, createdBy: p.createdBy, updatedAt: p.updatedAt };
}

export function registerPolicyRoutes(app: FastifyInstance, services: ApiServices): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const audits = services.audits;

  api.get('/v1/policies', { config: { permission: { resource: 'policies', verb: 'list' } }, schema: { response: { 200: PolicyListSchema } } }, async () => {
    const builtin = await Promise.all(
      BUILTIN_PACK_IDS.map(async (id) => {
        const pack = await loadBuiltinPack(id);
        return { id, name: pack.name, format: pack.format, checkCount: pack.checks.length, builtin: true, createdBy: null, updatedAt: null };
      }),
    );
    return { policies: [...builtin, ...(await audits.listPolicies()).map(customView)] };
  });
  api.post(
    '/v1/policies',
    { bodyLimit: POLICY_BODY_LIMIT, config: { permission: { resource: 'policies', verb: 'write' } }, schema: { body: PolicyUploadSchema, response: { 200: PolicyAddedSchema } } },
    async (request) => {
      const added = await audits.addPolicy(request.body.yaml, request.body.fileName, request.principal?.actor ?? 'unknown');
      return { policy: customView(added.policy), created: added.created };
    },
  );
  api.get('/v1/policies/:id', { config: { permission: { resource: 'policies', verb: 'read' } }, schema: { params: PolicyParamsSchema } }, async (request, reply) => {
    const policy = (await audits.listPolicies()).find((p) => p.id === request.params.id);
    if (!policy) throw new BulwarkError('NOT_FOUND', `no custom policy "${request.params.id}"; list them with \`bulwark policy ls\``);
    return reply.header('content-type', 'application/yaml; charset=utf-8').send(policy.text);
  });
  api.delete('/v1/policies/:id', { config: { permission: { resource: 'policies', verb: 'delete' } }, schema: { params: PolicyParamsSchema } }, async (request, reply) => {
    await audits.deletePolicy(request.params.id);
    return reply.status(204).send();
  });

  api.get('/v1/vulndb', { config: { permission: { resource: 'vulndb', verb: 'list' } }, schema: { response: { 200: VulnDbStatsSchema } } }, async () => ({
    sources: await audits.advisoryStats(),
  }));
  // The data set travels as the file itself (OSV or tracker JSON), not wrapped in
  // another JSON document, so a 70 MB file is read once.
  void app.register(async (raw) => {
    raw.addContentTypeParser('application/octet-stream', { parseAs: 'string', bodyLimit: VULNDB_BODY_LIMIT }, (_request, body, done) => done(null, body));
    raw.withTypeProvider<ZodTypeProvider>().post(
      '/v1/vulndb/import',
      {
        bodyLimit: VULNDB_BODY_LIMIT,
        config: { permission: { resource: 'vulndb', verb: 'import' } },
        schema: { querystring: z.object({ name: z.string().max(256).default('advisories.json') }), body: z.string(), response: { 200: VulnDbImportedSchema } },
      },
      async (request) => audits.importAdvisories(request.body, request.query.name),
    );
  });
}
