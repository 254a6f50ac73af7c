import { BulwarkError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { BUILTIN_ROLES, type Role, validateRole } from '../access/roles.js';
import { authorize, canAccessResource, nodeFilter, pathFilter, type Decision } from '../access/evaluate.js';
import type { Store } from '../store/open.js';
import { deleteRole, listRoles, upsertRole } from '../store/roles.js';
import type { Clock } from '../core/clock.js';

const ROLES_CHANGED = 'bulwark_roles_changed';

/** Who is calling: resolved once per request by ApiAuth. */
export interface Principal {
  kind: 'api-token' | 'session';
  /** Token or session id. */
  id: string;
  /** The name the audit log records: a user name, or `token:<name>`. */
  actor: string;
  userId: string | null;
  roles: string[];
  /** Whether a second factor was passed (sessions) — API tokens are minted by someone who did. */
  mfa: boolean;
}

export interface PermissionRequest {
  resource: string;
  verb: string;
  node?: { labels: Record<string, string> } | undefined;
  principal?: string | undefined;
  /** The secret path the request is about. */
  path?: string | undefined;
}

/**
 * Turns role names into roles (built-in ones from code, custom ones from the
 * database, cached and refreshed on change across replicas) and answers every
 * authorisation question through the one pure `authorize` of src/access.
 */
export class AccessService {
  #custom: Map<string, Role> | undefined;
  readonly #unsubscribe: () => void;

  constructor(private readonly deps: { store: Store; clock: Clock; log: Logger }) {
    this.#unsubscribe = deps.store.notifier.subscribe(ROLES_CHANGED, () => {
      this.#custom = undefined;
    });
  }

  close(): void {
    this.#unsubscribe();
  }

  async allRoles(): Promise<Role[]> {
    return [...BUILTIN_ROLES, ...(await this.#customRoles()).values()];
  }

  async role(name: string): Promise<Role | undefined> {
    return BUILTIN_ROLES.find((r) => r.name === name) ?? (await this.#customRoles()).get(name);
  }

  /** The roles behind role names; a name that no longer exists grants nothing (default deny). */
  async resolve(names: readonly string[]): Promise<Role[]> {
    const roles = await Promise.all(names.map((n) => this.role(n)));
    return roles.filter((r): r is Role => r !== undefined);
  }

  async assertRolesExist(names: readonly string[]): Promise<void> {
    for (const name of names) {
      if ((await this.role(name)) === undefined) throw new BulwarkError('NOT_FOUND', `role "${name}" does not exist; list roles with \`bulwark role ls\``);
    }
  }

  /** Whether a principal must pass MFA before using its roles (the built-in admin role requires it). */
  async requiresMfa(principal: Principal): Promise<boolean> {
    if (principal.kind !== 'session' || principal.mfa) return false;
    return (await this.resolve(principal.roles)).some((r) => r.requireMfa === true);
  }

  async decide(principal: Principal, request: PermissionRequest): Promise<Decision> {
    return authorize(await this.resolve(principal.roles), request);
  }

  /** Whether the verb is allowed anywhere (some node, or the resource as a whole); decides 403 before any node is looked at. */
  async mayAttempt(principal: Principal, resource: string, verb: string): Promise<boolean> {
    return canAccessResource(await this.resolve(principal.roles), resource, verb);
  }

  async nodeFilter(principal: Principal, resource: string, verb: string): Promise<(labels: Record<string, string>) => boolean> {
    return nodeFilter(await this.resolve(principal.roles), resource, verb);
  }

  /** Which secret paths the principal may `verb` (lists of secrets show only these). */
  async pathFilter(principal: Principal, resource: string, verb: string): Promise<(path: string) => boolean> {
    return pathFilter(await this.resolve(principal.roles), resource, verb);
  }

  /**
   * Stores custom roles (validated by the engine); replicas drop their cache.
   * Only an admin may: a role can grant anything, so whoever shapes roles can
   * make themselves anything.
   */
  async apply(caller: Principal, definitions: unknown[]): Promise<Role[]> {
    assertAdmin(caller, 'change roles');
    const roles = definitions.map((d) => validateRole(d)).map((r) => (grantsAdministration(r) ? { ...r, requireMfa: true } : r));
    const at = this.deps.clock.now();
    for (const role of roles) await upsertRole(this.deps.store.db, role.name, role, at);
    await this.#changed();
    return roles;
  }

  async remove(caller: Principal, name: string): Promise<void> {
    assertAdmin(caller, 'remove roles');
    if (BUILTIN_ROLES.some((r) => r.name === name)) throw new BulwarkError('CONFLICT', `role "${name}" is built in and cannot be removed`);
    if (!(await deleteRole(this.deps.store.db, name))) throw new BulwarkError('NOT_FOUND', `role "${name}" does not exist`);
    await this.#changed();
  }

  async #changed(): Promise<void> {
    this.#custom = undefined;
    await this.deps.store.notifier.publish(ROLES_CHANGED, 'changed').catch((err: unknown) => this.deps.log.warn({ err }, 'role change notification failed'));
  }

  async #customRoles(): Promise<Map<string, Role>> {
    if (this.#custom) return this.#custom;
    const map = new Map<string, Role>();
    for (const stored of await listRoles(this.deps.store.db)) {
      try {
        map.set(stored.name, validateRole(stored.definition));
      } catch (err) {
        // A role stored by an older version that no longer validates grants nothing.
        this.deps.log.error({ err, role: stored.name }, 'stored role is invalid and is ignored');
      }
    }
    this.#custom = map;
    return map;
  }
}

/** The caller for work the server does itself (bootstrap, tests): an admin that never came through the API. */
export function systemPrincipal(actor = 'system'): Principal {
  return { kind: 'api-token', id: actor, actor, userId: null, roles: ['admin'], mfa: true };
}

/** Changing who may do what is reserved to the built-in admin role. */
export function assertAdmin(caller: Principal, what: string): void {
  if (!caller.roles.includes('admin')) throw new BulwarkError('FORBIDDEN', `only an admin may ${what}`);
}

const ADMINISTRATION = new Set(['users', 'roles', 'api-tokens', 'keyring', 'secrets', 'backups', '*']);
/**
 * Verbs that grant no administration: reading, and starting a backup run or a
 * drill (which restores a sample into the agent's own scratch directory and removes it).
 */
const NOT_ADMINISTRATIVE = new Set(['list', 'read', 'verify', 'export', 'run', 'drill']);

/**
 * A role that may change users, roles, API tokens, the keyring, secrets (a delivery writes files as root on
 * the nodes) or backups (a policy carries a repository credential to its nodes; a restore writes files as root)
 * is as strong as admin, so it needs MFA as admin does.
 */
function grantsAdministration(role: Role): boolean {
  return role.allow.some((rule) => rule.resources.some((r) => ADMINISTRATION.has(r)) && rule.verbs.some((v) => !NOT_ADMINISTRATIVE.has(v)));
}
