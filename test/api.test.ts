/**
 * The operator API: every route declares a permission, credentials are
 * required except on the public routes, bad input always yields
 * `{error:{code,message}}` with a 4xx and never a 500, and events long-poll.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fastify, type FastifyInstance } from 'fastify';
import type { EventView } from '../src/protocol/api.js';
import { requireRoutePermissions } from '../src/server/api/app.js';
import type { RouteEntry } from '../src/server/api/permissions.js';
import { httpsCall, startTestServer, type ErrorJson, type TestServer } from './harness.js';

// Unseal is public on purpose: the passphrase or share it carries is the credential (rate limited per address).
const PUBLIC_URLS = ['/healthz', '/readyz', '/v1/openapi.json', '/v1/pki/crl', '/v1/login', '/v1/sys/seal-status', '/v1/sys/unseal'];

function assertErrorBody(json: unknown, context: string): asserts json is ErrorJson {
  assert.ok(typeof json === 'object' && json !== null, `${context}: a JSON object`);
  const error = (json as { error?: unknown }).error;
  assert.ok(typeof error === 'object' && error !== null, `${context}: has "error"`);
  const { code, message } = error as { code?: unknown; message?: unknown };
  assert.equal(typeof code, 'string', `${context}: error.code`);
  assert.equal(typeof message, 'string', `${context}: error.message`);
  assert.ok((message as string).length > 0, `${context}: a message`);
  assert.deepEqual(Object.keys(json as object), ['error'], `${context}: nothing but "error"`);
}

describe('operator API', () => {
  let t: TestServer;

  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t?.close();
  });

  describe('route permissions', () => {
    it('every registered route declares a permission', () => {
      const routes = t.server.routes;
      assert.ok(routes.length >= 10, `routes table has ${routes.length} entries`);
      const missing = routes.filter((r) => {
        const p = r.permission;
        if (p === 'public' || p === 'authenticated') return false;
        return p === undefined || typeof p.resource !== 'string' || p.resource === '' || typeof p.verb !== 'string' || p.verb === '';
      });
      assert.deepEqual(missing, [], 'routes without a permission');
      for (const expected of ['GET /v1/nodes', 'GET /v1/nodes/:node', 'DELETE /v1/nodes/:node', 'POST /v1/join-tokens', 'GET /v1/events', 'GET /healthz']) {
        assert.ok(
          routes.some((r) => `${r.method} ${r.url}` === expected),
          `${expected} is in the table`,
        );
      }
      const publicUrls = [...new Set(routes.filter((r) => r.permission === 'public').map((r) => r.url))].sort();
      assert.deepEqual(publicUrls, [...PUBLIC_URLS].sort(), 'exactly these routes are public');
    });

    it('refuses to register a route without config.permission', async () => {
      const app = fastify() as unknown as FastifyInstance;
      const routes: RouteEntry[] = [];
      requireRoutePermissions(app, routes);
      assert.throws(() => app.get('/unguarded', async () => 'x'), /declares no permission/);
      app.get('/guarded', { config: { permission: { resource: 'things', verb: 'read' } } }, async () => 'x');
      app.get('/open', { config: { permission: 'public' } }, async () => 'x');
      await app.ready();
      assert.ok(routes.some((r) => r.url === '/guarded' && r.method === 'GET'));
      assert.ok(!routes.some((r) => r.url === '/unguarded'));
      await app.close();
    });

    it('every non-public route refuses a request without a token (401 UNAUTHENTICATED)', async () => {
      for (const route of t.server.routes) {
        if (route.permission === 'public') continue;
        const url = route.url.replace(/:[A-Za-z]+/g, 'x');
        // From an address of its own: anonymous requests count against their source, and this sweep sends many.
        const res = await t.api(route.method, url, undefined, { token: null, remoteAddress: '10.250.0.1' });
        assert.equal(res.status, 401, `${route.method} ${url}: ${res.body}`);
        if (route.method !== 'HEAD') {
          assertErrorBody(res.json, `${route.method} ${url}`);
          assert.equal(res.json.error.code, 'UNAUTHENTICATED');
        }
      }
    });

    it('refuses a wrong token, and a token of a role without the permission (default deny)', async () => {
      const bad = await t.api<ErrorJson>('GET', '/v1/nodes', undefined, { token: 'bwt_nope_nope' });
      assert.equal(bad.status, 401);
      assert.equal(bad.json.error.code, 'UNAUTHENTICATED');
      const basic = await t.api<ErrorJson>('GET', '/v1/nodes', undefined, { token: null, headers: { authorization: 'Basic YTpi' } });
      assert.equal(basic.status, 401);
      const viewer = (await t.server.identity.createApiToken(undefined, { name: 'viewer', role: 'viewer' })).token;
      const allowed = await t.api<ErrorJson>('GET', '/v1/nodes', undefined, { token: viewer });
      assert.equal(allowed.status, 200, 'a viewer may list nodes');
      const denied = await t.api<ErrorJson>('POST', '/v1/join-tokens', { ttlSeconds: 60 }, { token: viewer });
      assert.equal(denied.status, 403);
      assertErrorBody(denied.json, 'viewer');
      assert.equal(denied.json.error.code, 'FORBIDDEN');
    });

    it('requires the token over real HTTPS too', async () => {
      const ca = t.server.pki.caCertPem;
      const anonymous = await httpsCall(`${t.server.apiUrl}/v1/nodes`, { ca });
      assert.equal(anonymous.status, 401);
      assert.equal((anonymous.json as ErrorJson).error.code, 'UNAUTHENTICATED');
      const admin = await httpsCall(`${t.server.apiUrl}/v1/nodes`, { ca, headers: { authorization: `Bearer ${t.adminToken}` } });
      assert.equal(admin.status, 200);
      assert.deepEqual(admin.json, { nodes: [] });
    });
  });

  describe('public routes', () => {
    it('/healthz and /readyz answer without a token', async () => {
      const health = await t.api('GET', '/healthz', undefined, { token: null });
      assert.equal(health.status, 200);
      assert.deepEqual(health.json, { status: 'ok' });
      const ready = await t.api('GET', '/readyz', undefined, { token: null });
      assert.equal(ready.status, 200);
      assert.deepEqual(ready.json, { status: 'ok', checks: { database: 'ok' } });
    });

    it('/v1/openapi.json is a valid OpenAPI 3 document with the node routes', async () => {
      const res = await t.api<{ openapi: string; info: { title: string; version: string }; paths: Record<string, Record<string, unknown>> }>(
        'GET',
        '/v1/openapi.json',
        undefined,
        { token: null },
      );
      assert.equal(res.status, 200);
      assert.match(res.json.openapi, /^3\.\d+\.\d+$/);
      assert.equal(typeof res.json.info.title, 'string');
      assert.equal(typeof res.json.info.version, 'string');
      const nodes = res.json.paths['/v1/nodes'];
      assert.ok(nodes, 'has /v1/nodes');
      assert.ok(nodes.get, 'GET /v1/nodes is described');
      assert.ok(res.json.paths['/v1/nodes/{node}']?.delete, 'DELETE /v1/nodes/{node} is described');
      assert.ok(res.json.paths['/v1/join-tokens']?.post, 'POST /v1/join-tokens is described');
      // Every operation lists responses, as OpenAPI 3 requires.
      for (const [path, item] of Object.entries(res.json.paths)) {
        for (const [method, op] of Object.entries(item)) {
          assert.ok(typeof op === 'object' && op !== null && 'responses' in op, `${method} ${path} has responses`);
        }
      }
    });

    it('/v1/pki/crl answers without a token', async () => {
      const res = await t.api('GET', '/v1/pki/crl', undefined, { token: null });
      assert.equal(res.status, 200);
      assert.match(res.body, /^-----BEGIN X509 CRL-----/);
    });
  });

  describe('bad input', () => {
    const cases: { name: string; method: string; url: string; body?: unknown; status: number; code: string }[] = [
      { name: 'malformed selector', method: 'GET', url: `/v1/nodes?selector=${encodeURIComponent('env in (prod')}`, status: 400, code: 'INVALID_SELECTOR' },
      { name: 'bad selector operator', method: 'GET', url: `/v1/nodes?selector=${encodeURIComponent('env ~ prod')}`, status: 400, code: 'INVALID_SELECTOR' },
      { name: 'unknown state', method: 'GET', url: '/v1/nodes?state=sleepy', status: 400, code: 'BAD_REQUEST' },
      { name: 'join token with a string for uses', method: 'POST', url: '/v1/join-tokens', body: { uses: 'many' }, status: 400, code: 'BAD_REQUEST' },
      { name: 'join token with a negative ttl', method: 'POST', url: '/v1/join-tokens', body: { ttlSeconds: -5 }, status: 400, code: 'BAD_REQUEST' },
      { name: 'join token with labels as a list', method: 'POST', url: '/v1/join-tokens', body: { labels: ['env=prod'] }, status: 400, code: 'BAD_REQUEST' },
      { name: 'join token body not JSON', method: 'POST', url: '/v1/join-tokens', body: '{"uses": ', status: 400, code: 'BAD_REQUEST' },
      { name: 'join token body a JSON string', method: 'POST', url: '/v1/join-tokens', body: '"hello"', status: 400, code: 'BAD_REQUEST' },
      { name: 'join token with an invalid label', method: 'POST', url: '/v1/join-tokens', body: { labels: { 'bad key!': 'x' } }, status: 400, code: 'INVALID_LABEL' },
      { name: 'unknown node', method: 'GET', url: '/v1/nodes/no-such-node', status: 404, code: 'NODE_NOT_FOUND' },
      { name: 'unknown node with a 250-character name', method: 'GET', url: `/v1/nodes/${'h'.repeat(250)}`, status: 404, code: 'NODE_NOT_FOUND' },
      { name: 'remove unknown node', method: 'DELETE', url: '/v1/nodes/no-such-node', status: 404, code: 'NODE_NOT_FOUND' },
      { name: 'events of an unknown node', method: 'GET', url: '/v1/events?node=no-such-node', status: 404, code: 'NODE_NOT_FOUND' },
      { name: 'events with a bad limit', method: 'GET', url: '/v1/events?limit=lots', status: 400, code: 'BAD_REQUEST' },
      { name: 'events with a too long wait', method: 'GET', url: '/v1/events?wait=3600', status: 400, code: 'BAD_REQUEST' },
      { name: 'events after a negative id', method: 'GET', url: '/v1/events?after=-1', status: 400, code: 'BAD_REQUEST' },
      { name: 'revoke unknown join token', method: 'DELETE', url: '/v1/join-tokens/nope', status: 404, code: 'NOT_FOUND' },
      { name: 'unknown route', method: 'GET', url: '/v1/nothing-here', status: 404, code: 'NOT_FOUND' },
      { name: 'oversize body', method: 'POST', url: '/v1/join-tokens', body: JSON.stringify({ description: 'x'.repeat(300 * 1024) }), status: 413, code: 'PAYLOAD_TOO_LARGE' },
    ];
    for (const c of cases) {
      it(`${c.name} → ${c.status} ${c.code}`, async () => {
        const res = await t.api(c.method, c.url, c.body);
        assert.equal(res.status, c.status, res.body);
        assertErrorBody(res.json, c.name);
        assert.equal(res.json.error.code, c.code);
      });
    }

    it('never answers 500 to odd requests', async () => {
      const odd: [string, string, unknown][] = [
        ['POST', '/v1/join-tokens', '[]'],
        ['POST', '/v1/join-tokens', 'null'],
        ['POST', '/v1/join-tokens', { uses: 1e12 }],
        ['POST', '/v1/join-tokens', { description: 7 }],
        ['GET', `/v1/nodes/${'n'.repeat(300)}`, undefined],
        ['GET', `/v1/nodes?selector=${'a'.repeat(2000)}`, undefined],
        ['GET', '/v1/nodes?selector=%00', undefined],
        ['GET', '/v1/events?type=' + 'x'.repeat(100), undefined],
        ['DELETE', `/v1/join-tokens/${'%2F'.repeat(10)}`, undefined],
        ['PUT', '/v1/nodes', { a: 1 }],
      ];
      for (const [method, url, body] of odd) {
        const res = await t.api(method, url, body);
        assert.ok(res.status >= 400 && res.status < 500, `${method} ${url.slice(0, 60)} → ${res.status} ${res.body.slice(0, 200)}`);
        assertErrorBody(res.json, `${method} ${url.slice(0, 60)}`);
      }
    });
  });

  describe('events', () => {
    it('a long-poll returns as soon as a new event arrives', async () => {
      const after = await t.lastEventId();
      const started = Date.now();
      let settled = false;
      const poll = httpsCall(`${t.server.apiUrl}/v1/events?after=${after}&wait=60`, {
        ca: t.server.pki.caCertPem,
        headers: { authorization: `Bearer ${t.adminToken}` },
        timeoutMs: 70_000,
      }).finally(() => {
        settled = true;
      });
      // Nothing is there yet, so it waits.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(settled, false, 'the poll waits while there is nothing new');
      const token = await t.createJoinToken({ labels: { wake: 'up' } });
      const res = await poll;
      const elapsed = Date.now() - started;
      assert.equal(res.status, 200);
      const body = res.json as { events: EventView[]; lastId: number };
      assert.ok(body.events.length >= 1);
      const created = body.events.find((e) => e.type === 'token.created');
      assert.ok(created, 'the new event is returned');
      assert.equal(created.details.tokenId, token.id);
      assert.equal(body.lastId, body.events.at(-1)?.id);
      assert.ok(elapsed < 30_000, `returned long before the 60 s wait (after ${elapsed} ms)`);
    });

    it('a long-poll with nothing new returns an empty page when the wait is over', async () => {
      const after = await t.lastEventId();
      const res = await t.api<{ events: EventView[]; lastId: number }>('GET', `/v1/events?after=${after}&wait=1`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.json, { events: [], lastId: after });
    });

    it('filters by type', async () => {
      await t.createJoinToken();
      const res = await t.api<{ events: EventView[] }>('GET', '/v1/events?after=0&type=token.created');
      assert.equal(res.status, 200);
      assert.ok(res.json.events.length >= 1);
      assert.ok(res.json.events.every((e) => e.type === 'token.created'));
    });
  });
});
