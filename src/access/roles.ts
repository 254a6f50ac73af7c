import { z } from 'zod';
import { BulwarkError } from '../core/errors.js';
import { parseSelector } from '../core/labels.js';
import { secretGlobProblem } from '../secrets/glob.js';

/**
 * One rule of a role. A request matches the rule when its resource and verb are
 * listed (or `*`), and:
 * - `nodes` (a label selector): absent matches any node and requests about no
 *   node; present matches only a request about a node whose labels match.
 * - `principals` (SSH logins, for `ssh: sign`): only consulted when the request
 *   names a principal. An allow rule grants the listed logins (`*` any) and no
 *   login when absent; a deny rule refuses the listed logins, and every login
 *   when absent.
 * - `paths` (secret path globs, for `secrets` rules): absent matches every path
 *   and requests about no path; present matches only a request about a path
 *   that one of the globs matches (`app/*`, `app/**`, `db/password`).
 */
export interface Rule {
  resources: string[];
  verbs: string[];
  nodes?: string;
  principals?: string[];
  paths?: string[];
}

export interface Role {
  name: string;
  description?: string;
  allow: Rule[];
  deny: Rule[];
  /**
   * Holders of this role must have passed MFA: a session without it gets nothing
   * from the role's allow rules (its deny rules still apply).
   */
  requireMfa?: boolean;
}

/** Every resource and the verbs it has. The API's routes use exactly these names. */
export const RESOURCE_VERBS = {
  cluster: ['read'],
  // `update` edits labels, which decide what a node receives (secret deliveries): admin only among the built-in roles.
  nodes: ['list', 'read', 'update', 'delete', 'exec'],
  'join-tokens': ['create', 'list', 'delete'],
  'api-tokens': ['create', 'list', 'delete'],
  events: ['list'],
  users: ['create', 'list', 'read', 'update', 'delete'],
  roles: ['create', 'list', 'read', 'delete'],
  sessions: ['list', 'delete'],
  auditlog: ['list', 'verify', 'export'],
  ssh: ['sign'],
  secrets: ['list', 'read', 'write', 'delete', 'deliver'],
  audits: ['list', 'read', 'run', 'schedule'],
  policies: ['list', 'read', 'write', 'delete'],
  vulndb: ['list', 'import'],
  keyring: ['read', 'rotate', 'rekey', 'seal'],
  // `write`/`delete` change policies, which carry repository credentials to whatever nodes their selector matches.
  backups: ['list', 'read', 'write', 'delete', 'run', 'restore', 'drill'],
} as const satisfies Record<string, readonly string[]>;

export type Resource = keyof typeof RESOURCE_VERBS;
export type Verb = (typeof RESOURCE_VERBS)[Resource][number];

export const RESOURCES = Object.keys(RESOURCE_VERBS) as Resource[];
export const VERBS: readonly Verb[] = [...new Set(Object.values(RESOURCE_VERBS).flat())];

/** Resources whose requests can be about one node, so a `nodes` selector can apply. */
export const NODE_SCOPED_RESOURCES: readonly Resource[] = ['nodes', 'secrets', 'audits', 'backups'];

/** Resources whose requests can be about one secret path, so `paths` can apply. */
export const SECRET_PATH_RESOURCES: readonly string[] = ['secrets'];

/** Matches every resource, verb or principal. */
export const WILDCARD = '*';

export function isResource(value: string): value is Resource {
  return Object.hasOwn(RESOURCE_VERBS, value);
}

/** Whether `verb` is one of `resource`'s verbs. */
export function isVerbOf(resource: string, verb: string): boolean {
  return isResource(resource) && (RESOURCE_VERBS[resource] as readonly string[]).includes(verb);
}

const BUILTIN: Role[] = [
  {
    name: 'admin',
    description: 'Everything, including every SSH login. Requires MFA.',
    allow: [{ resources: ['*'], verbs: ['*'], principals: ['*'] }],
    deny: [],
    requireMfa: true,
  },
  {
    name: 'operator',
    description: 'Runs the fleet: reads and execs on nodes, enrolls nodes, signs SSH certificates for any login but root, runs backups, restores and drills.',
    allow: [
      { resources: ['nodes'], verbs: ['list', 'read', 'exec'] },
      { resources: ['join-tokens'], verbs: ['create', 'list', 'delete'] },
      { resources: ['events'], verbs: ['list'] },
      { resources: ['cluster'], verbs: ['read'] },
      { resources: ['ssh'], verbs: ['sign'], principals: ['*'] },
      { resources: ['audits'], verbs: ['list', 'read', 'run', 'schedule'] },
      { resources: ['policies'], verbs: ['list', 'read'] },
      { resources: ['vulndb'], verbs: ['list'] },
      { resources: ['backups'], verbs: ['list', 'read', 'run', 'restore', 'drill'] },
    ],
    deny: [{ resources: ['ssh'], verbs: ['sign'], principals: ['root'] }],
  },
  {
    name: 'auditor',
    description: 'Reads everything, including the audit log (list, verify, export); changes and execs nothing.',
    allow: [{ resources: ['*'], verbs: ['list', 'read', 'verify', 'export'] }],
    // Reading a secret means seeing its value: that is access, not oversight.
    deny: [{ resources: ['secrets'], verbs: ['read'] }],
  },
  {
    name: 'viewer',
    description: 'Sees the cluster, the nodes, their events, their audit findings and their backups.',
    allow: [
      { resources: ['nodes'], verbs: ['list', 'read'] },
      { resources: ['audits'], verbs: ['list', 'read'] },
      { resources: ['backups'], verbs: ['list', 'read'] },
      { resources: ['events'], verbs: ['list'] },
      { resources: ['cluster'], verbs: ['read'] },
    ],
    deny: [],
  },
];

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** The built-in roles; their names are reserved. Frozen: copy before changing. */
export const BUILTIN_ROLES: readonly Role[] = deepFreeze(BUILTIN);
export const BUILTIN_ROLE_NAMES: readonly string[] = BUILTIN.map((r) => r.name);

export function isBuiltinRoleName(name: string): boolean {
  return BUILTIN_ROLE_NAMES.includes(name);
}

export function findBuiltinRole(name: string): Role | undefined {
  return BUILTIN_ROLES.find((r) => r.name === name);
}

export const ROLE_NAME_PATTERN = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
// SSH logins and certificate principals: no spaces or commas, which would change
// what a certificate's principal list means.
const PRINCIPAL_PATTERN = /^[A-Za-z0-9._@][A-Za-z0-9._@-]{0,63}$/;

const RuleSchema = z.strictObject({
  resources: z.array(z.string()).min(1, 'list at least one resource'),
  verbs: z.array(z.string()).min(1, 'list at least one verb'),
  nodes: z.string().optional(),
  principals: z.array(z.string()).min(1, 'list at least one principal, or leave principals out').optional(),
  paths: z.array(z.string()).min(1, 'list at least one path glob, or leave paths out').optional(),
});

// `allow:` with nothing after it is null in YAML; it means "no rules".
const RuleListSchema = z.array(RuleSchema).nullish().transform((rules) => rules ?? []);

const RoleSchema = z.strictObject({
  name: z.string(),
  description: z.string().max(1024, 'at most 1024 characters').optional(),
  allow: RuleListSchema,
  deny: RuleListSchema,
  requireMfa: z.boolean().optional(),
});

/** Where in a role an error is: `['allow', 1, 'verbs', 0]`. */
export type RolePath = (string | number)[];

/**
 * Validates a role from user input (YAML, API): shape, name, resource and verb
 * names, selectors and principals. Unknown names are errors rather than rules that
 * silently never match. Throws BulwarkError INVALID_ROLE naming the role and rule;
 * `details.path` locates the offending field.
 *
 * @example validateRole({ name: 'dev', allow: [{ resources: ['nodes'], verbs: ['exec'], nodes: 'env=dev' }] })
 */
export function validateRole(input: unknown): Role {
  const role = checkRoleShape(input);
  if (isBuiltinRoleName(role.name)) {
    throw roleError(role.name, ['name'], `"${role.name}" is a built-in role and cannot be redefined; choose another name`);
  }
  return role;
}

/** Validation without the reserved-name check: the built-in roles pass through it in tests. */
export function checkRoleShape(input: unknown): Role {
  const name = nameOf(input);
  const parsed = RoleSchema.safeParse(input, { reportInput: true });
  if (!parsed.success) {
    // A misspelt field also shows up as a missing one: name the misspelling.
    const issue = parsed.error.issues.find((i) => i.code === 'unrecognized_keys') ?? parsed.error.issues[0];
    const path = (issue?.path ?? []) as RolePath;
    // An unknown field is best shown at the field itself, not at its parent.
    const locate = issue?.code === 'unrecognized_keys' && issue.keys[0] !== undefined ? [...path, issue.keys[0]] : path;
    throw roleError(name, path, zodMessage(issue), locate);
  }
  const data = parsed.data;
  if (!ROLE_NAME_PATTERN.test(data.name)) {
    throw roleError(name, ['name'], 'a role name is 1–63 lower-case letters, digits, "-", "_" or ".", starting and ending with a letter or digit');
  }
  const role: Role = { name: data.name, allow: [], deny: [] };
  if (data.description !== undefined) role.description = data.description;
  for (const effect of ['allow', 'deny'] as const) {
    role[effect] = data[effect].map((rule, index) => checkRule(data.name, effect, index, rule));
  }
  if (data.requireMfa !== undefined) role.requireMfa = data.requireMfa;
  return role;
}

function checkRule(roleName: string, effect: 'allow' | 'deny', index: number, input: z.output<typeof RuleSchema>): Rule {
  const at = (...rest: RolePath): RolePath => [effect, index, ...rest];
  const resources = input.resources;
  const anyResource = resources.includes(WILDCARD);
  resources.forEach((resource, i) => {
    if (resource !== WILDCARD && !isResource(resource)) {
      throw roleError(roleName, at('resources', i), `unknown resource "${resource}" (resources: ${RESOURCES.join(', ')}, or "*")`);
    }
  });
  const listed = resources.filter(isResource);
  input.verbs.forEach((verb, i) => {
    if (verb === WILDCARD) return;
    if (!(VERBS as readonly string[]).includes(verb)) {
      throw roleError(roleName, at('verbs', i), `unknown verb "${verb}" (verbs: ${VERBS.join(', ')}, or "*")`);
    }
    if (!anyResource && !listed.some((r) => isVerbOf(r, verb))) {
      const hint = listed.map((r) => `${r}: ${RESOURCE_VERBS[r].join(', ')}`).join('; ');
      throw roleError(roleName, at('verbs', i), `verb "${verb}" applies to none of the rule's resources (${hint})`);
    }
  });
  const rule: Rule = { resources: [...resources], verbs: [...input.verbs] };
  if (input.nodes !== undefined) {
    if (input.nodes.trim() === '') {
      throw roleError(roleName, at('nodes'), 'the node selector is empty: leave "nodes" out to match any node');
    }
    if (!anyResource && !listed.some((r) => NODE_SCOPED_RESOURCES.includes(r))) {
      throw roleError(roleName, at('nodes'), `a node selector only applies to ${NODE_SCOPED_RESOURCES.join(' and ')}; this rule's resources are never about a node`);
    }
    try {
      parseSelector(input.nodes);
    } catch (err) {
      throw roleError(roleName, at('nodes'), err instanceof Error ? err.message : String(err));
    }
    rule.nodes = input.nodes.trim();
  }
  if (input.principals !== undefined) {
    const coversSign = (anyResource || resources.includes('ssh')) && (input.verbs.includes(WILDCARD) || input.verbs.includes('sign'));
    if (!coversSign) {
      throw roleError(roleName, at('principals'), 'principals only apply to rules that cover "sign" on "ssh"');
    }
    input.principals.forEach((p, i) => {
      if (p !== WILDCARD && !PRINCIPAL_PATTERN.test(p)) {
        throw roleError(roleName, at('principals', i), `principal "${p}" is not a valid login: up to 64 letters, digits, ".", "_", "@" or "-", or "*"`);
      }
    });
    rule.principals = [...input.principals];
  } else if (effect === 'allow' && resources.includes('ssh') && (input.verbs.includes('sign') || input.verbs.includes(WILDCARD))) {
    // Absent principals grant no login, so this rule would allow nothing: say so now.
    throw roleError(roleName, at('principals'), 'a rule allowing "sign" on "ssh" must list the logins it grants in principals (["*"] for any)');
  }
  if (input.paths !== undefined) {
    // Only secrets have paths; on a rule that also covers other resources, paths would silently narrow those to nothing.
    if (resources.some((r) => !SECRET_PATH_RESOURCES.includes(r))) {
      throw roleError(roleName, at('paths'), `paths only apply to rules whose resources are exactly ${SECRET_PATH_RESOURCES.join(', ')}; put other resources in a rule of their own`);
    }
    input.paths.forEach((glob, i) => {
      const problem = secretGlobProblem(glob);
      if (problem !== undefined) {
        throw roleError(roleName, at('paths', i), `path glob ${JSON.stringify(glob)} ${problem} ("*" matches within one segment, a final "**" any depth)`);
      }
    });
    rule.paths = [...input.paths];
  }
  return rule;
}

function nameOf(input: unknown): string | undefined {
  if (input && typeof input === 'object' && 'name' in input && typeof input.name === 'string') return input.name;
  return undefined;
}

/** `allow rule 1, verbs[0]` for `['allow', 1, 'verbs', 0]`. */
export function describeRolePath(path: RolePath): string {
  const parts: string[] = [];
  for (let i = 0; i < path.length; i++) {
    const key = path[i];
    const next = path[i + 1];
    if ((key === 'allow' || key === 'deny') && typeof next === 'number') {
      parts.push(`${key} rule ${next}`);
      i++;
    } else if (typeof key === 'number') {
      parts[parts.length - 1] = `${parts.at(-1) ?? ''}[${key}]`;
    } else if (key !== undefined) {
      parts.push(key);
    }
  }
  return parts.join(', ');
}

function roleError(name: string | undefined, path: RolePath, message: string, locate: RolePath = path): BulwarkError {
  const who = name === undefined ? 'role' : `role "${name}"`;
  const where = describeRolePath(path);
  return new BulwarkError('INVALID_ROLE', `${who}${where ? `, ${where}` : ''}: ${message}`, { role: name, path: locate });
}

function zodMessage(issue: z.core.$ZodIssue | undefined): string {
  if (!issue) return 'is not a valid role';
  if (issue.code === 'unrecognized_keys') {
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'is required';
  if (issue.code === 'invalid_type' && issue.path.length === 0) return 'a role is a mapping with name, allow and deny';
  return issue.message;
}
