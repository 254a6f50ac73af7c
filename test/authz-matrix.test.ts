/**
 * The authorisation matrix: every route the API registers (`server.routes`) ×
 * every kind of caller — anonymous, an admin that has not passed MFA, an admin
 * that has, the built-in operator, auditor and viewer, and a custom role scoped
 * to `env=staging` nodes — against a real server, with the status each must get.
 *
 * The expectations are written out by hand below, never computed from the
 * policy engine (that would test the engine against itself). A route that is
 * registered but has no row fails the test, naming the route, so a new route
 * cannot ship without someone deciding who may call it; a row whose route is
 * gone fails too.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { base32Decode } from '../src/access/totp.js';
import { formatSshPublicKey } from '../src/pki/ssh-keys.js';
import type { NodeView } from '../src/protocol/api.js';
import {
  createUser,
  enroll,
  joinAgent,
  loginSession,
  mintApiToken,
  nextTotp,
  ShiftedClock,
  startTestServer,
  uniqueName,
  userWithMfa,
  waitFor,
  type ApiResponse,
  type ErrorJson,
  type TestAgent,
  type TestServer,
} from './harness.js';

/** Who calls: the columns of the matrix. */
const CALLERS = ['anon', 'adminNoMfa', 'admin', 'operator', 'auditor', 'viewer', 'staging'] as const;
type Caller = (typeof CALLERS)[number];
type Expect = Record<Caller, number>;

/** Expected statuses, in the column order of CALLERS. */
function e(anon: number, adminNoMfa: number, admin: number, operator: number, auditor: number, viewer: number, staging: number): Expect {
  return { anon, adminNoMfa, admin, operator, auditor, viewer, staging };
}
const ALL = (status: number): Expect => e(status, status, status, status, status, status, status);

const STAGING_ROLE = 'staging-ops';
const STAGING_ROLE_YAML = `roles:
  - name: ${STAGING_ROLE}
    description: operates the staging nodes only
    allow:
      - resources: [nodes]
        verbs: [list, read, exec]
        nodes: env=staging
      - resources: [events]
        verbs: [list]
    deny: []
`;

interface Ctx {
  t: TestServer;
  clock: ShiftedClock;
  prod: TestAgent;
  staging: TestAgent;
  /** A user the read rows look at. */
  someUser: string;
  /** A user every caller logs in as on the public login row. */
  loginUser: { name: string; password: string };
  sshPublicKey: string;
  /** The credential of a caller: shared across rows, or a throwaway one for rows that consume it (logout, MFA). */
  credential(who: Caller, fresh: boolean): Promise<string | null>;
  /** A current TOTP code of the session's user, when it has MFA enrolled (replacing a factor takes one). */
  currentCode(token: string | null): string | undefined;
}

interface Case {
  /** Distinguishes several cases of one route (e.g. an in-scope and an out-of-scope node). */
  name?: string;
  /** The row logs out or re-enrols MFA: each caller gets a throwaway credential of its kind. */
  freshCredential?: boolean;
  /** The request for one caller; objects it acts on are made here, one per caller when the row changes them. */
  request: (c: Ctx, who: Caller, token: string | null) => Promise<{ url: string; body?: unknown; headers?: Record<string, string> }>;
  /** Undoes what an allowed call did that would spoil later rows (sealing the server). */
  after?: (c: Ctx, who: Caller, status: number) => Promise<void>;
  expect: Expect;
}

interface Row {
  cases: Case[];
}

const get = (url: string) => async () => ({ url });
const one = (c: Case): Row => ({ cases: [c] });

async function freshJoinTokenId(c: Ctx): Promise<string> {
  return (await c.t.createJoinToken({ ttlSeconds: 600 })).id;
}

async function freshAuditRun(c: Ctx): Promise<string> {
  const res = await c.t.api<{ run: { id: string } }>('POST', '/v1/audits/runs', { selector: 'env=staging', tlsListeners: false, vulnerabilities: false });
  assert.equal(res.status, 202, res.body);
  return res.json.run.id;
}

const MATRIX_POLICY = (id: string): string =>
  `policy: { id: ${id}, name: matrix, format: bulwark/v1 }\nchecks:\n  - id: issue\n    title: t\n    severity: low\n    rationale: r\n    remediation: m\n    condition: all\n    rules:\n      - file: /etc/issue\n        exists: true\n`;

async function freshPolicy(c: Ctx): Promise<string> {
  const id = uniqueName('policy');
  const res = await c.t.api('POST', '/v1/policies', { yaml: MATRIX_POLICY(id), fileName: `${id}.yml` });
  assert.equal(res.status, 200, res.body);
  return id;
}

async function freshSchedule(c: Ctx): Promise<string> {
  const name = uniqueName('sched');
  const res = await c.t.api('PUT', `/v1/audits/schedules/${name}`, { cron: '0 3 * * *', enabled: false });
  assert.equal(res.status, 200, res.body);
  return name;
}

/** A secret to deliver (written by the bootstrap admin). */
async function matrixSecret(c: Ctx): Promise<string> {
  const res = await c.t.api('PUT', '/v1/secrets/data/matrix/delivered', { value: Buffer.from('matrix').toString('base64') });
  assert.equal(res.status, 200, res.body);
  return 'matrix/delivered';
}

async function freshDelivery(c: Ctx): Promise<string> {
  const res = await c.t.api<{ id: string }>('POST', '/v1/secret-deliveries', { path: await matrixSecret(c), selector: 'env=staging', dest: `/srv/matrix/${uniqueName('dest')}`, mode: '0400' });
  assert.equal(res.status, 201, res.body);
  return res.json.id;
}

async function freshUser(c: Ctx): Promise<string> {
  return (await createUser(c.t, { roles: ['viewer'] })).name;
}

/** A secret of its own (path with slashes, as the wildcard routes take it), written by the bootstrap admin. */
async function freshSecret(c: Ctx): Promise<string> {
  const path = `matrix/${uniqueName('secret')}`;
  const res = await c.t.api('PUT', `/v1/secrets/data/${path}`, { value: Buffer.from('matrix').toString('base64') });
  assert.equal(res.status, 200, res.body);
  return path;
}

/** A backup policy (written by the bootstrap admin) that covers no node: for the rows that read or remove one. */
async function freshBackupPolicy(c: Ctx): Promise<string> {
  const name = uniqueName('bkp');
  const res = await c.t.api('PUT', `/v1/backups/policies/${name}`, MATRIX_BACKUP_POLICY('env=nowhere'));
  assert.equal(res.status, 201, res.body);
  return name;
}

/** The one policy covering the staging node (made once): restores, drills and runs go through it and fail on the node (its repository cannot exist), answering 200 all the same. */
let stagingBackupPolicy: string | undefined;
async function stagingPolicy(c: Ctx): Promise<string> {
  if (stagingBackupPolicy !== undefined) return stagingBackupPolicy;
  const name = uniqueName('bkp-staging');
  const res = await c.t.api('PUT', `/v1/backups/policies/${name}`, MATRIX_BACKUP_POLICY('env=staging'));
  assert.equal(res.status, 201, res.body);
  stagingBackupPolicy = name;
  return name;
}

// /dev/null is no directory: the agent can create nothing there.
const MATRIX_BACKUP_POLICY = (selector: string) => ({ selector, paths: ['/nonexistent-matrix'], schedule: '0 3 * * *', repo: '/dev/null/bulwark-matrix', credential: { kind: 'password', password: 'matrix password' } });

/**
 * The hand-written table: `METHOD URL` (as registered) → cases → status per caller.
 * HEAD routes (fastify's automatic twins of GET routes) are held to their GET row.
 */
const MATRIX: Record<string, Row> = {
  // ---- public
  'GET /healthz': one({ request: get('/healthz'), expect: ALL(200) }),
  'GET /readyz': one({ request: get('/readyz'), expect: ALL(200) }),
  'GET /v1/pki/crl': one({ request: get('/v1/pki/crl'), expect: ALL(200) }),
  'GET /v1/openapi.json': one({ request: get('/v1/openapi.json'), expect: ALL(200) }),
  'POST /v1/login': one({
    request: async (c) => ({ url: '/v1/login', body: { user: c.loginUser.name, password: c.loginUser.password } }),
    expect: ALL(200),
  }),

  // ---- cluster
  'GET /v1/cluster': one({ request: get('/v1/cluster'), expect: e(401, 403, 200, 200, 200, 200, 403) }),
  'GET /v1/ssh/ca': one({ request: get('/v1/ssh/ca'), expect: e(401, 403, 200, 200, 200, 200, 403) }),

  // ---- nodes
  'GET /v1/nodes': one({ request: get('/v1/nodes'), expect: e(401, 403, 200, 200, 200, 200, 200) }),
  'GET /v1/nodes/:node': {
    cases: [
      { name: 'prod node', request: async (c) => ({ url: `/v1/nodes/${c.prod.nodeId}` }), expect: e(401, 403, 200, 200, 200, 200, 404) },
      { name: 'staging node', request: async (c) => ({ url: `/v1/nodes/${c.staging.nodeId}` }), expect: e(401, 403, 200, 200, 200, 200, 200) },
    ],
  },
  'DELETE /v1/nodes/:node': {
    cases: [
      {
        name: 'a node of its own',
        request: async (c) => {
          const node = await enroll(c.t, { labels: { env: 'scratch' } });
          await rm(node.dataDir, { recursive: true, force: true });
          return { url: `/v1/nodes/${node.identity.nodeId}` };
        },
        expect: e(401, 403, 200, 403, 403, 403, 403),
      },
    ],
  },
  'PATCH /v1/nodes/:node/labels': one({
    // Labels decide which secrets a node receives: only the admin (wildcard) may edit them.
    request: async (c) => ({ url: `/v1/nodes/${c.staging.nodeId}/labels`, body: { set: { touched: 'yes' } } }),
    expect: e(401, 403, 200, 403, 403, 403, 403),
  }),
  'POST /v1/exec': {
    cases: [
      {
        name: 'on env=staging',
        request: async () => ({ url: '/v1/exec', body: { selector: 'env=staging', argv: ['uptime'], timeoutSeconds: 10 } }),
        // The agents here run with exec disabled, so the allowed callers get a stream
        // of per-node refusals (200); the refused callers never reach a node.
        expect: e(401, 403, 200, 200, 403, 403, 200),
      },
      {
        name: 'on env=prod',
        request: async () => ({ url: '/v1/exec', body: { selector: 'env=prod', argv: ['uptime'], timeoutSeconds: 10 } }),
        // Out of the scoped role's scope: no node it may exec on matches, as if none existed.
        expect: e(401, 403, 200, 200, 403, 403, 404),
      },
    ],
  },

  // ---- join tokens
  'POST /v1/join-tokens': one({ request: async () => ({ url: '/v1/join-tokens', body: { ttlSeconds: 60, uses: 1 } }), expect: e(401, 403, 201, 201, 403, 403, 403) }),
  'GET /v1/join-tokens': one({ request: get('/v1/join-tokens'), expect: e(401, 403, 200, 200, 200, 403, 403) }),
  'DELETE /v1/join-tokens/:id': one({
    request: async (c) => ({ url: `/v1/join-tokens/${await freshJoinTokenId(c)}` }),
    expect: e(401, 403, 204, 204, 403, 403, 403),
  }),

  // ---- events
  'GET /v1/events': one({ request: get('/v1/events?after=0'), expect: e(401, 403, 200, 200, 200, 200, 200) }),

  // ---- session and MFA (any logged-in caller, even before the MFA its role requires)
  'POST /v1/logout': one({ freshCredential: true, request: get('/v1/logout'), expect: e(401, 204, 204, 204, 204, 204, 204) }),
  'GET /v1/whoami': one({ request: get('/v1/whoami'), expect: e(401, 200, 200, 200, 200, 200, 200) }),
  // API tokens have no second factor to enrol: 403.
  'POST /v1/mfa/enroll': one({
    freshCredential: true,
    request: async (c, _who, token) => {
      const currentCode = c.currentCode(token);
      return { url: '/v1/mfa/enroll', body: currentCode === undefined ? {} : { currentCode } };
    },
    expect: e(401, 200, 200, 200, 403, 403, 200),
  }),
  'POST /v1/mfa/confirm': one({
    freshCredential: true,
    request: async (c, _who, token) => {
      // A real enrolment where the caller can start one; otherwise any code.
      const currentCode = c.currentCode(token);
      const begun = await c.t.api<{ secret: string }>('POST', '/v1/mfa/enroll', currentCode === undefined ? undefined : { currentCode }, { token });
      const code = begun.status === 200 ? nextTotp(base32Decode(begun.json.secret), c.clock) : '000000';
      return { url: '/v1/mfa/confirm', body: { code } };
    },
    expect: e(401, 204, 204, 204, 403, 403, 204),
  }),

  // ---- users and sessions
  'POST /v1/users': one({
    request: async () => ({ url: '/v1/users', body: { name: uniqueName('made'), roles: ['viewer'], password: 'a-long-enough-password' } }),
    expect: e(401, 403, 201, 403, 403, 403, 403),
  }),
  'GET /v1/users': one({ request: get('/v1/users'), expect: e(401, 403, 200, 403, 200, 403, 403) }),
  'GET /v1/users/:name': one({ request: async (c) => ({ url: `/v1/users/${c.someUser}` }), expect: e(401, 403, 200, 403, 200, 403, 403) }),
  'DELETE /v1/users/:name': one({ request: async (c) => ({ url: `/v1/users/${await freshUser(c)}` }), expect: e(401, 403, 204, 403, 403, 403, 403) }),
  'POST /v1/users/:name/lock': one({ request: async (c) => ({ url: `/v1/users/${await freshUser(c)}/lock` }), expect: e(401, 403, 200, 403, 403, 403, 403) }),
  'POST /v1/users/:name/unlock': one({ request: async (c) => ({ url: `/v1/users/${await freshUser(c)}/unlock` }), expect: e(401, 403, 200, 403, 403, 403, 403) }),
  'PUT /v1/users/:name/roles': one({
    request: async (c) => ({ url: `/v1/users/${await freshUser(c)}/roles`, body: { roles: ['viewer', 'auditor'] } }),
    expect: e(401, 403, 200, 403, 403, 403, 403),
  }),
  'PUT /v1/users/:name/password': one({
    request: async (c) => ({ url: `/v1/users/${await freshUser(c)}/password`, body: { password: 'another-long-password' } }),
    expect: e(401, 403, 204, 403, 403, 403, 403),
  }),
  'GET /v1/sessions': one({ request: get('/v1/sessions'), expect: e(401, 403, 200, 403, 200, 403, 403) }),
  'DELETE /v1/sessions/:id': one({
    request: async (c) => {
      const user = await createUser(c.t, { roles: ['viewer'] });
      await loginSession(c.t, user.name, user.password);
      const list = await c.t.api<{ sessions: { id: string; user: string }[] }>('GET', '/v1/sessions');
      const session = list.json.sessions.find((s) => s.user === user.name);
      assert.ok(session, `a session of ${user.name} is listed`);
      return { url: `/v1/sessions/${session.id}` };
    },
    expect: e(401, 403, 204, 403, 403, 403, 403),
  }),

  // ---- API tokens
  'POST /v1/api-tokens': one({ request: async () => ({ url: '/v1/api-tokens', body: { name: uniqueName('tok'), role: 'viewer' } }), expect: e(401, 403, 201, 403, 403, 403, 403) }),
  'GET /v1/api-tokens': one({ request: get('/v1/api-tokens'), expect: e(401, 403, 200, 403, 200, 403, 403) }),
  'DELETE /v1/api-tokens/:id': one({
    request: async (c) => ({ url: `/v1/api-tokens/${(await mintApiToken(c.t, 'viewer')).id}` }),
    expect: e(401, 403, 204, 403, 403, 403, 403),
  }),

  // ---- roles and access checks
  'PUT /v1/roles': one({
    request: async () => ({ url: '/v1/roles', body: { yaml: `name: ${uniqueName('role')}\nallow:\n  - { resources: [events], verbs: [list] }\ndeny: []\n` } }),
    expect: e(401, 403, 200, 403, 403, 403, 403),
  }),
  'GET /v1/roles': one({ request: get('/v1/roles'), expect: e(401, 403, 200, 403, 200, 403, 403) }),
  'GET /v1/roles/:name': one({ request: get(`/v1/roles/${STAGING_ROLE}`), expect: e(401, 403, 200, 403, 200, 403, 403) }),
  'DELETE /v1/roles/:name': one({
    request: async (c) => {
      const name = uniqueName('gone');
      const res = await c.t.api('PUT', '/v1/roles', { yaml: `name: ${name}\nallow: []\ndeny: []\n` });
      assert.equal(res.status, 200, res.body);
      return { url: `/v1/roles/${name}` };
    },
    expect: e(401, 403, 204, 403, 403, 403, 403),
  }),
  'POST /v1/access/check': one({
    request: async () => ({ url: '/v1/access/check', body: { role: 'viewer', verb: 'list', resource: 'nodes' } }),
    expect: e(401, 403, 200, 403, 200, 403, 403),
  }),
  'POST /v1/access/test': one({
    request: async () => ({ url: '/v1/access/test', body: { yaml: 'tests:\n  - role:viewer can list nodes\n  - role:viewer cannot delete nodes\n' } }),
    expect: e(401, 403, 200, 403, 200, 403, 403),
  }),

  // ---- audit log
  'GET /v1/audit': one({ request: get('/v1/audit?limit=5'), expect: e(401, 403, 200, 403, 200, 403, 403) }),
  'GET /v1/audit/verify': one({ request: get('/v1/audit/verify'), expect: e(401, 403, 200, 403, 200, 403, 403) }),
  'GET /v1/audit/export': one({ request: get('/v1/audit/export?format=jsonl'), expect: e(401, 403, 200, 403, 200, 403, 403) }),

  // ---- security audits (node-scoped: the staging role has no audit rights at all)
  'POST /v1/audits/runs': one({
    request: async () => ({ url: '/v1/audits/runs', body: { selector: 'env=staging', tlsListeners: false, vulnerabilities: false } }),
    expect: e(401, 403, 202, 202, 403, 403, 403),
  }),
  'GET /v1/audits/runs': one({ request: get('/v1/audits/runs'), expect: e(401, 403, 200, 200, 200, 200, 403) }),
  'GET /v1/audits/runs/:id': one({ request: async (c) => ({ url: `/v1/audits/runs/${await freshAuditRun(c)}` }), expect: e(401, 403, 200, 200, 200, 200, 403) }),
  'GET /v1/audits/results': one({ request: get('/v1/audits/results'), expect: e(401, 403, 200, 200, 200, 200, 403) }),
  'GET /v1/audits/nodes/:node/history': one({ request: async (c) => ({ url: `/v1/audits/nodes/${c.prod.nodeId}/history` }), expect: e(401, 403, 200, 200, 200, 200, 403) }),
  'GET /v1/audits/findings': one({ request: get('/v1/audits/findings'), expect: e(401, 403, 200, 200, 200, 200, 403) }),
  'GET /v1/audits/report': one({ request: get('/v1/audits/report?format=json'), expect: e(401, 403, 200, 200, 200, 200, 403) }),
  'GET /v1/audits/schedules': one({ request: get('/v1/audits/schedules'), expect: e(401, 403, 200, 200, 200, 200, 403) }),
  'PUT /v1/audits/schedules/:name': one({
    request: async () => ({ url: `/v1/audits/schedules/${uniqueName('sched')}`, body: { cron: '0 3 * * *', enabled: false } }),
    expect: e(401, 403, 200, 200, 403, 403, 403),
  }),
  'DELETE /v1/audits/schedules/:name': one({ request: async (c) => ({ url: `/v1/audits/schedules/${await freshSchedule(c)}` }), expect: e(401, 403, 204, 204, 403, 403, 403) }),
  'GET /v1/policies': one({ request: get('/v1/policies'), expect: e(401, 403, 200, 200, 200, 403, 403) }),
  'POST /v1/policies': one({
    request: async () => {
      const id = uniqueName('policy');
      return { url: '/v1/policies', body: { yaml: MATRIX_POLICY(id), fileName: `${id}.yml` } };
    },
    expect: e(401, 403, 200, 403, 403, 403, 403),
  }),
  'GET /v1/policies/:id': one({ request: async (c) => ({ url: `/v1/policies/${await freshPolicy(c)}` }), expect: e(401, 403, 200, 200, 200, 403, 403) }),
  'DELETE /v1/policies/:id': one({ request: async (c) => ({ url: `/v1/policies/${await freshPolicy(c)}` }), expect: e(401, 403, 204, 403, 403, 403, 403) }),
  'GET /v1/vulndb': one({ request: get('/v1/vulndb'), expect: e(401, 403, 200, 200, 200, 403, 403) }),
  'POST /v1/vulndb/import': one({
    request: async () => ({
      url: '/v1/vulndb/import?name=matrix.json',
      body: JSON.stringify({ id: uniqueName('DSA'), modified: '2026-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'Debian:12', name: 'matrixpkg' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.0-1' }] }] }] }),
      headers: { 'content-type': 'application/octet-stream' },
    }),
    expect: e(401, 403, 200, 403, 403, 403, 403),
  }),

  // ---- secrets store (admin only by default; the auditor lists names and versions, never values)
  'GET /v1/secrets': one({ request: get('/v1/secrets'), expect: e(401, 403, 200, 403, 200, 403, 403) }),
  'GET /v1/secrets/data/*': one({ request: async (c) => ({ url: `/v1/secrets/data/${await freshSecret(c)}` }), expect: e(401, 403, 200, 403, 403, 403, 403) }),
  'PUT /v1/secrets/data/*': one({
    request: async () => ({ url: `/v1/secrets/data/matrix/${uniqueName('put')}`, body: { value: Buffer.from('matrix').toString('base64') } }),
    expect: e(401, 403, 200, 403, 403, 403, 403),
  }),
  'DELETE /v1/secrets/data/*': one({ request: async (c) => ({ url: `/v1/secrets/data/${await freshSecret(c)}` }), expect: e(401, 403, 200, 403, 403, 403, 403) }),
  'GET /v1/secrets/versions/*': one({ request: async (c) => ({ url: `/v1/secrets/versions/${await freshSecret(c)}` }), expect: e(401, 403, 200, 403, 200, 403, 403) }),
  'POST /v1/secrets/rollback/*': one({
    request: async (c) => ({ url: `/v1/secrets/rollback/${await freshSecret(c)}`, body: { version: 1 } }),
    expect: e(401, 403, 200, 403, 403, 403, 403),
  }),

  // ---- SSH certificates
  'POST /v1/ssh/sign': one({
    request: async (c) => ({ url: '/v1/ssh/sign', body: { publicKey: c.sshPublicKey, principals: ['ubuntu'], ttlSeconds: 600 } }),
    expect: e(401, 403, 200, 200, 403, 403, 403),
  }),

  // ---- secret deliveries (creating one needs secrets: deliver on every node; listing shows per-node status)
  'POST /v1/secret-deliveries': one({
    request: async (c) => ({ url: '/v1/secret-deliveries', body: { path: await matrixSecret(c), selector: 'env=staging', dest: `/srv/matrix/${uniqueName('dest')}`, mode: '0400' } }),
    expect: e(401, 403, 201, 403, 403, 403, 403),
  }),
  'GET /v1/secret-deliveries': one({ request: get('/v1/secret-deliveries'), expect: e(401, 403, 200, 403, 200, 403, 403) }),
  'DELETE /v1/secret-deliveries/:id': one({
    request: async (c) => ({ url: `/v1/secret-deliveries/${await freshDelivery(c)}` }),
    expect: e(401, 403, 204, 403, 403, 403, 403),
  }),

  // ---- fleet backups (policies carry repository credentials: writing them is admin only; the operator runs, restores and drills)
  'GET /v1/backups/policies': one({ request: get('/v1/backups/policies'), expect: e(401, 403, 200, 200, 200, 200, 403) }),
  'GET /v1/backups/policies/:name': one({ request: async (c) => ({ url: `/v1/backups/policies/${await freshBackupPolicy(c)}` }), expect: e(401, 403, 200, 200, 200, 200, 403) }),
  'PUT /v1/backups/policies/:name': one({
    request: async () => ({ url: `/v1/backups/policies/${uniqueName('bkp')}`, body: MATRIX_BACKUP_POLICY('env=nowhere') }),
    expect: e(401, 403, 201, 403, 403, 403, 403),
  }),
  'DELETE /v1/backups/policies/:name': one({ request: async (c) => ({ url: `/v1/backups/policies/${await freshBackupPolicy(c)}` }), expect: e(401, 403, 204, 403, 403, 403, 403) }),
  'POST /v1/backups/policies/:name/run': one({
    request: async (c) => ({ url: `/v1/backups/policies/${await stagingPolicy(c)}/run`, body: { wait: false } }),
    expect: e(401, 403, 200, 200, 403, 403, 403),
  }),
  'GET /v1/backups/status': one({ request: get('/v1/backups/status'), expect: e(401, 403, 200, 200, 200, 200, 403) }),
  'GET /v1/backups/runs': one({ request: get('/v1/backups/runs'), expect: e(401, 403, 200, 200, 200, 200, 403) }),
  'POST /v1/backups/restore': one({
    request: async (c) => ({ url: '/v1/backups/restore', body: { node: c.staging.nodeId, policy: await stagingPolicy(c), target: `/tmp/${uniqueName('bulwark-matrix-restore')}` } }),
    expect: e(401, 403, 200, 200, 403, 403, 403),
  }),
  'POST /v1/backups/drills': one({
    request: async (c) => ({ url: '/v1/backups/drills', body: { node: c.staging.nodeId, policy: await stagingPolicy(c), sample: 1 } }),
    expect: e(401, 403, 200, 200, 403, 403, 403),
  }),
  'GET /v1/backups/drills': one({ request: get('/v1/backups/drills'), expect: e(401, 403, 200, 200, 200, 200, 403) }),

  // ---- keyring (unseal is public: the passphrase or share is the credential)
  'GET /v1/sys/seal-status': one({ request: get('/v1/sys/seal-status'), expect: ALL(200) }),
  'POST /v1/sys/unseal': one({ request: async () => ({ url: '/v1/sys/unseal', body: {} }), expect: ALL(200) }),
  'GET /v1/keys/status': one({ request: get('/v1/keys/status'), expect: e(401, 403, 200, 403, 200, 403, 403) }),
  'POST /v1/keys/rotate': one({ request: async () => ({ url: '/v1/keys/rotate' }), expect: e(401, 403, 200, 403, 403, 403, 403) }),
  'POST /v1/keys/rekey': one({ request: async () => ({ url: '/v1/keys/rekey', body: { method: 'file' } }), expect: e(401, 403, 200, 403, 403, 403, 403) }),
  'POST /v1/sys/seal': one({
    request: async () => ({ url: '/v1/sys/seal' }),
    // The admin's call seals the server: unseal it again (with its key file) for the rows after this one.
    // (The agents do not come back: the TOTP rows moved the server clock past their certificates.)
    after: async (c, _who, status) => {
      if (status !== 202) return;
      await waitFor(() => c.t.server.sealed, { message: 'the server seals' });
      await c.t.server.unseal({});
    },
    expect: e(401, 403, 202, 403, 403, 403, 403),
  }),
};

/** The error code a refusal must carry, so a 403 for the wrong reason does not pass. */
function expectedCode(status: number, who: Caller): string | undefined {
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return who === 'adminNoMfa' ? 'MFA_ENROLLMENT_REQUIRED' : 'FORBIDDEN';
  if (status === 404) return 'NODE_NOT_FOUND';
  return undefined;
}

describe('authorisation matrix: every route × every kind of caller', () => {
  const clock = new ShiftedClock();
  let c: Ctx;
  const agents: TestAgent[] = [];

  before(async () => {
    const t = await startTestServer({ clock });
    // Nodes first, before the TOTP steps move the server clock on.
    const prod = await joinAgent(t, { labels: { env: 'prod' }, hostname: 'prod-1' });
    agents.push(prod);
    const staging = await joinAgent(t, { labels: { env: 'staging' }, hostname: 'staging-1' });
    agents.push(staging);
    const applied = await t.api('PUT', '/v1/roles', { yaml: STAGING_ROLE_YAML });
    assert.equal(applied.status, 200, applied.body);

    const shared = new Map<Caller, string | null>();
    const mfaSecrets = new Map<string, Buffer>();
    const make = async (who: Caller): Promise<string | null> => {
      switch (who) {
        case 'anon':
          return null;
        case 'adminNoMfa': {
          const u = await createUser(t, { roles: ['admin'] });
          return loginSession(t, u.name, u.password);
        }
        case 'admin': {
          const u = await userWithMfa(t, clock);
          mfaSecrets.set(u.session, u.totpSecret);
          return u.session;
        }
        case 'operator':
        case 'staging': {
          // Sessions of users with these roles.
          const u = await createUser(t, { roles: [who === 'operator' ? 'operator' : STAGING_ROLE] });
          return loginSession(t, u.name, u.password);
        }
        case 'auditor':
        case 'viewer':
          // API tokens of these roles.
          return (await mintApiToken(t, who)).token;
      }
    };
    for (const who of CALLERS) shared.set(who, await make(who));
    const loginUser = await createUser(t, { roles: ['viewer'] });
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    c = {
      t,
      clock,
      prod,
      staging,
      someUser: (await createUser(t, { roles: ['viewer'] })).name,
      loginUser,
      sshPublicKey: formatSshPublicKey(publicKey, 'matrix@test'),
      credential: async (who, fresh) => (fresh ? make(who) : (shared.get(who) ?? null)),
      currentCode: (token) => {
        const secret = token === null ? undefined : mfaSecrets.get(token);
        return secret === undefined ? undefined : nextTotp(secret, clock);
      },
    };
  });

  after(async () => {
    for (const a of agents) await a.close();
    await c?.t.close();
  });

  const registered = (): Set<string> => new Set(c.t.server.routes.map((r) => `${r.method} ${r.url}`));

  it('has a row for every registered route, and no row for a route that is gone', () => {
    const routes = registered();
    const missing = [...routes].filter((k) => !k.startsWith('HEAD ') && !(k in MATRIX));
    assert.deepEqual(
      missing,
      [],
      `registered routes without a decision in the authorisation matrix (add a row to MATRIX in test/authz-matrix.test.ts): ${missing.join(', ')}`,
    );
    const gone = Object.keys(MATRIX).filter((k) => !routes.has(k));
    assert.deepEqual(gone, [], `rows of the authorisation matrix whose route is no longer registered: ${gone.join(', ')}`);
    const headless = [...routes].filter((k) => k.startsWith('HEAD ') && !routes.has(`GET ${k.slice('HEAD '.length)}`));
    assert.deepEqual(headless, [], `HEAD routes without a GET twin have no row: ${headless.join(', ')}`);
  });

  async function runRow(key: string, method: string, row: Row): Promise<void> {
    const failures: string[] = [];
    for (const kase of row.cases) {
      for (const who of CALLERS) {
        const token = await c.credential(who, kase.freshCredential === true);
        const { url, body, headers } = await kase.request(c, who, token);
        const res: ApiResponse<unknown> = await c.t.api(method, url, body, { token, ...(headers ? { headers } : {}) });
        await kase.after?.(c, who, res.status);
        const want = kase.expect[who];
        const label = `${key}${kase.name ? ` (${kase.name})` : ''} as ${who}`;
        if (res.status !== want) {
          failures.push(`${label}: expected ${want}, got ${res.status} ${res.body.slice(0, 200)}`);
          continue;
        }
        const code = expectedCode(want, who);
        if (code !== undefined && method !== 'HEAD') {
          const got = (res.json as ErrorJson | undefined)?.error?.code;
          if (got !== code) failures.push(`${label}: expected error code ${code}, got ${String(got)}`);
        }
      }
    }
    assert.deepEqual(failures, [], `\n${failures.join('\n')}`);
  }

  for (const [key, row] of Object.entries(MATRIX)) {
    const [method = '', url = ''] = key.split(' ');
    it(key, async () => {
      assert.ok(registered().has(key), `${key} is in the matrix but not registered`);
      await runRow(key, method, row);
    });
    if (method === 'GET') {
      it(`HEAD ${url} (held to the GET row)`, async (ctx) => {
        if (!registered().has(`HEAD ${url}`)) {
          ctx.skip(`HEAD ${url} is not registered`);
          return;
        }
        await runRow(`HEAD ${url}`, 'HEAD', row);
      });
    }
  }

  describe('a role scoped by node labels', () => {
    let scoped: string;
    before(async () => {
      scoped = (await c.credential('staging', false)) ?? '';
    });

    it('lists only the nodes in scope', async () => {
      const all = await c.t.api<{ nodes: NodeView[] }>('GET', '/v1/nodes', undefined, { token: scoped });
      assert.equal(all.status, 200);
      assert.deepEqual(
        all.json.nodes.map((n) => n.id),
        [c.staging.nodeId],
      );
      const prodOnly = await c.t.api<{ nodes: NodeView[] }>('GET', `/v1/nodes?selector=${encodeURIComponent('env=prod')}`, undefined, { token: scoped });
      assert.equal(prodOnly.status, 200);
      assert.deepEqual(prodOnly.json.nodes, []);
      const adminView = await c.t.api<{ nodes: NodeView[] }>('GET', '/v1/nodes');
      assert.ok(
        adminView.json.nodes.some((n) => n.id === c.prod.nodeId),
        'the prod node exists',
      );
    });

    it('reads an out-of-scope node as a 404 indistinguishable from a node that does not exist', async () => {
      for (const ref of [c.prod.nodeId, c.prod.hostname]) {
        const hidden = await c.t.api<ErrorJson>('GET', `/v1/nodes/${ref}`, undefined, { token: scoped });
        const absent = await c.t.api<ErrorJson>('GET', '/v1/nodes/no-such-node', undefined, { token: scoped });
        assert.equal(hidden.status, 404, hidden.body);
        assert.equal(absent.status, 404);
        assert.equal(hidden.json.error.code, absent.json.error.code);
        assert.equal(hidden.json.error.message.replace(ref, 'X'), absent.json.error.message.replace('no-such-node', 'X'));
      }
      const visible = await c.t.api<NodeView>('GET', `/v1/nodes/${c.staging.hostname}`, undefined, { token: scoped });
      assert.equal(visible.status, 200);
      assert.equal(visible.json.id, c.staging.nodeId);
    });

    it('cannot remove even an in-scope node (no delete verb), and the node stays', async () => {
      const res = await c.t.api<ErrorJson>('DELETE', `/v1/nodes/${c.staging.nodeId}`, undefined, { token: scoped });
      assert.equal(res.status, 403);
      assert.equal(res.json.error.code, 'FORBIDDEN');
      const still = await c.t.api<NodeView>('GET', `/v1/nodes/${c.staging.nodeId}`);
      assert.equal(still.status, 200);
      assert.notEqual(still.json.state, 'removed');
    });

    it('sees no events of out-of-scope nodes, and asking for them is a 404', async () => {
      const all = await c.t.api<{ events: { nodeId: string | null }[] }>('GET', '/v1/events?after=0&limit=1000');
      assert.ok(
        all.json.events.some((ev) => ev.nodeId === c.prod.nodeId),
        'the prod node has events',
      );
      const mine = await c.t.api<{ events: { nodeId: string | null }[] }>('GET', '/v1/events?after=0&limit=1000', undefined, { token: scoped });
      assert.equal(mine.status, 200);
      assert.ok(
        mine.json.events.some((ev) => ev.nodeId === c.staging.nodeId),
        'the staging node events are visible',
      );
      assert.ok(!mine.json.events.some((ev) => ev.nodeId === c.prod.nodeId), 'no prod node event leaks');
      const asked = await c.t.api<ErrorJson>('GET', `/v1/events?node=${c.prod.nodeId}`, undefined, { token: scoped });
      assert.equal(asked.status, 404);
      assert.equal(asked.json.error.code, 'NODE_NOT_FOUND');
    });
  });
});
