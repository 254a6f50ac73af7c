import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { createInterface } from 'node:readline';
import type { z } from 'zod';
import { BulwarkError, isErrorCode } from '../core/errors.js';
import {
  ClusterInfoSchema,
  CreatedJoinTokenSchema,
  EventListSchema,
  JoinTokenListSchema,
  NodeListSchema,
  NodeSchema,
} from '../protocol/api.js';
import {
  AccessTestResultSchema,
  ApiTokenListSchema,
  CreatedApiTokenSchema,
  CreatedUserSchema,
  DecisionSchema,
  LoginResponseSchema,
  MfaEnrollResponseSchema,
  RoleListSchema,
  RoleSchema,
  SessionListSchema,
  UserListSchema,
  UserSchema,
  WhoAmISchema,
} from '../protocol/access.js';

export interface ApiClientOptions {
  /** `https://host:port` of the API listener. */
  baseUrl: string;
  token: string | undefined;
  /** PEM of the cluster CA: the only root the client trusts. */
  caPem: string;
  timeoutMs?: number;
}

export type Query = Record<string, string | number | boolean | undefined>;

/** Typed client of the operator API, used by the CLI and tests. Responses are checked against the protocol schemas. */
export class ApiClient {
  constructor(readonly options: ApiClientOptions) {}

  cluster() {
    return this.#call('GET', '/v1/cluster', ClusterInfoSchema);
  }

  listNodes(query: { selector?: string; state?: string; includeRemoved?: boolean } = {}) {
    return this.#call('GET', '/v1/nodes', NodeListSchema, { query: { selector: query.selector, state: query.state, includeRemoved: query.includeRemoved } });
  }

  getNode(ref: string) {
    return this.#call('GET', `/v1/nodes/${encodeURIComponent(ref)}`, NodeSchema);
  }

  removeNode(ref: string) {
    return this.#call('DELETE', `/v1/nodes/${encodeURIComponent(ref)}`, NodeSchema);
  }

  /** Sets and removes labels of a node (`nodes: update`). */
  setNodeLabels(ref: string, patch: { set: Record<string, string>; remove: string[] }) {
    return this.#call('PATCH', `/v1/nodes/${encodeURIComponent(ref)}/labels`, NodeSchema, { body: patch });
  }

  createJoinToken(body: { ttlSeconds: number; uses: number; labels: Record<string, string>; description?: string }) {
    return this.#call('POST', '/v1/join-tokens', CreatedJoinTokenSchema, { body });
  }

  listJoinTokens(all = false) {
    return this.#call('GET', '/v1/join-tokens', JoinTokenListSchema, { query: { all } });
  }

  async revokeJoinToken(id: string): Promise<void> {
    await this.#call('DELETE', `/v1/join-tokens/${encodeURIComponent(id)}`, undefined);
  }

  listEvents(query: { after?: number; node?: string; type?: string; limit?: number; wait?: number } = {}) {
    return this.#call('GET', '/v1/events', EventListSchema, { query, timeoutMs: ((query.wait ?? 0) + 15) * 1000 });
  }

  login(body: { user: string; password: string; totp?: string }) {
    return this.#call('POST', '/v1/login', LoginResponseSchema, { body });
  }

  async logout(): Promise<void> {
    await this.#call('POST', '/v1/logout', undefined);
  }

  whoami() {
    return this.#call('GET', '/v1/whoami', WhoAmISchema);
  }

  mfaEnroll(currentCode?: string) {
    return this.#call('POST', '/v1/mfa/enroll', MfaEnrollResponseSchema, { body: currentCode ? { currentCode } : {} });
  }

  async mfaConfirm(code: string): Promise<void> {
    await this.#call('POST', '/v1/mfa/confirm', undefined, { body: { code } });
  }

  createUser(body: { name: string; roles: string[]; password?: string }) {
    return this.#call('POST', '/v1/users', CreatedUserSchema, { body });
  }

  listUsers() {
    return this.#call('GET', '/v1/users', UserListSchema);
  }

  getUser(name: string) {
    return this.#call('GET', `/v1/users/${encodeURIComponent(name)}`, UserSchema);
  }

  async removeUser(name: string): Promise<void> {
    await this.#call('DELETE', `/v1/users/${encodeURIComponent(name)}`, undefined);
  }

  setUserLocked(name: string, locked: boolean) {
    return this.#call('POST', `/v1/users/${encodeURIComponent(name)}/${locked ? 'lock' : 'unlock'}`, UserSchema, { body: {} });
  }

  setUserRoles(name: string, roles: string[]) {
    return this.#call('PUT', `/v1/users/${encodeURIComponent(name)}/roles`, UserSchema, { body: { roles } });
  }

  async setUserPassword(name: string, password: string): Promise<void> {
    await this.#call('PUT', `/v1/users/${encodeURIComponent(name)}/password`, undefined, { body: { password } });
  }

  listSessions() {
    return this.#call('GET', '/v1/sessions', SessionListSchema);
  }

  createApiToken(body: { name: string; role: string; ttlSeconds?: number }) {
    return this.#call('POST', '/v1/api-tokens', CreatedApiTokenSchema, { body });
  }

  listApiTokens() {
    return this.#call('GET', '/v1/api-tokens', ApiTokenListSchema);
  }

  async revokeApiToken(id: string): Promise<void> {
    await this.#call('DELETE', `/v1/api-tokens/${encodeURIComponent(id)}`, undefined);
  }

  applyRoles(yaml: string) {
    return this.#call('PUT', '/v1/roles', RoleListSchema, { body: { yaml } });
  }

  listRoles() {
    return this.#call('GET', '/v1/roles', RoleListSchema);
  }

  getRole(name: string) {
    return this.#call('GET', `/v1/roles/${encodeURIComponent(name)}`, RoleSchema);
  }

  async removeRole(name: string): Promise<void> {
    await this.#call('DELETE', `/v1/roles/${encodeURIComponent(name)}`, undefined);
  }

  accessCheck(body: { user?: string; role?: string; verb: string; resource?: string; node?: string; labels?: Record<string, string>; principal?: string }) {
    return this.#call('POST', '/v1/access/check', DecisionSchema, { body });
  }

  accessTest(yaml: string) {
    return this.#call('POST', '/v1/access/test', AccessTestResultSchema, { body: { yaml } });
  }

  /** Any call of the API, checked against a response schema: for command groups that bring their own schemas. */
  call<S extends z.ZodType>(method: string, path: string, schema: S, opts?: { query?: Query; body?: unknown; timeoutMs?: number }): Promise<z.output<S>> {
    return this.#call(method, path, schema, opts);
  }

  /** Sends a file as it is (`application/octet-stream`), e.g. an advisory data set; the answer is checked against `schema`. */
  async upload<S extends z.ZodType>(path: string, body: string, schema: S, query: Query = {}, timeoutMs = 10 * 60_000): Promise<z.output<S>> {
    const url = new URL(path, this.options.baseUrl);
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== false) url.searchParams.set(k, String(v));
    const { status, text } = await this.#send('POST', url, body, timeoutMs, 'application/octet-stream');
    if (status >= 400) this.#raise(status, text);
    const parsed = schema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new BulwarkError('INTERNAL', `the server's answer to POST ${path} does not match this client's protocol version`);
    return parsed.data;
  }

  /** A call whose answer is text (exports), returned as it came. */
  async text(method: string, path: string, query: Query = {}): Promise<string> {
    const url = new URL(path, this.options.baseUrl);
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== false) url.searchParams.set(k, String(v));
    const { status, text } = await this.#send(method, url, undefined, this.options.timeoutMs ?? 120_000);
    if (status >= 400) this.#raise(status, text);
    return text;
  }

  /**
   * A call answered with NDJSON (`POST /v1/exec`): yields each line's JSON as it
   * arrives. An error answer (status ≥ 400) throws like any call, before anything
   * is yielded. `timeoutMs` is the longest silence tolerated, not the whole call.
   */
  async *stream(method: string, path: string, body?: unknown, opts: { timeoutMs?: number } = {}): AsyncGenerator<unknown> {
    const url = new URL(path, this.options.baseUrl);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const timeoutMs = opts.timeoutMs ?? this.options.timeoutMs ?? 120_000;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          ca: this.options.caPem,
          timeout: timeoutMs,
          headers: {
            accept: 'application/x-ndjson, application/json',
            ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
            ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          },
        },
        resolve,
      );
      req.on('timeout', () => req.destroy(new BulwarkError('UNREACHABLE', `${this.options.baseUrl} was silent for ${timeoutMs / 1000} s`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err instanceof BulwarkError) return reject(err);
        const hint = err.code === 'ECONNREFUSED' ? '; is the server running (`bulwark up`)?' : '';
        reject(new BulwarkError('UNREACHABLE', `cannot reach ${this.options.baseUrl}: ${err.code ?? err.message}${hint}`));
      });
      req.end(payload);
    });
    const status = res.statusCode ?? 0;
    if (status >= 400) {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      this.#raise(status, Buffer.concat(chunks).toString('utf8'));
    }
    const lines = createInterface({ input: res, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        if (line.trim() === '') continue;
        try {
          yield JSON.parse(line) as unknown;
        } catch {
          throw new BulwarkError('INTERNAL', `the server's answer to ${method} ${path} is not NDJSON`);
        }
      }
    } catch (err) {
      if (err instanceof BulwarkError) throw err;
      throw new BulwarkError('UNREACHABLE', `the connection to ${this.options.baseUrl} broke off: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      lines.close();
      res.destroy();
    }
  }

  #raise(status: number, text: string): never {
    let error: { code?: unknown; message?: unknown } | undefined;
    try {
      error = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
    } catch {
      error = undefined;
    }
    const code = isErrorCode(error?.code) ? error.code : status >= 500 ? 'INTERNAL' : 'BAD_REQUEST';
    throw new BulwarkError(code, typeof error?.message === 'string' ? error.message : `HTTP ${status}`);
  }

  #call<S extends z.ZodType>(method: string, path: string, schema: S, opts?: { query?: Query; body?: unknown; timeoutMs?: number }): Promise<z.output<S>>;
  #call(method: string, path: string, schema: undefined, opts?: { query?: Query; body?: unknown }): Promise<undefined>;
  async #call(method: string, path: string, schema: z.ZodType | undefined, opts: { query?: Query; body?: unknown; timeoutMs?: number } = {}): Promise<unknown> {
    const url = new URL(path, this.options.baseUrl);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== false) url.searchParams.set(k, String(v));
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const { status, text } = await this.#send(method, url, payload, opts.timeoutMs ?? this.options.timeoutMs ?? 15_000);
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new BulwarkError('UNREACHABLE', `${this.options.baseUrl} answered HTTP ${status} with no JSON; is it a Bulwark API listener?`);
    }
    if (status >= 400) this.#raise(status, text);
    if (schema === undefined) return undefined;
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new BulwarkError('INTERNAL', `the server's answer to ${method} ${path} does not match this client's protocol version`);
    return parsed.data;
  }

  #send(method: string, url: URL, payload: string | undefined, timeoutMs: number, contentType = 'application/json'): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          ca: this.options.caPem,
          timeout: timeoutMs,
          headers: {
            accept: 'application/json',
            ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
            ...(payload === undefined ? {} : { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        const hint = err.code === 'ECONNREFUSED' ? '; is the server running (`bulwark up`)?' : '';
        reject(new BulwarkError('UNREACHABLE', `cannot reach ${this.options.baseUrl}: ${err.code ?? err.message}${hint}`));
      });
      req.end(payload);
    });
  }
}
