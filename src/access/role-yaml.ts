import { BulwarkError, isBulwarkError } from '../core/errors.js';
import { validateRole } from './roles.js';
import type { Role, RolePath } from './roles.js';
import { loadYaml } from './yaml-source.js';

/**
 * Parses a roles file for `bulwark role apply`. Accepted shapes, so that both a
 * file of many roles and a file per role read naturally:
 *
 * ```yaml
 * roles:                     # a mapping with a "roles" list
 *   - name: staging-operator
 *     allow:
 *       - { resources: [nodes], verbs: [list, read, exec], nodes: "env=staging" }
 *     deny: []
 * ```
 *
 * or a list of roles at the top level, or one role at the top level; several
 * documents separated by `---` add up. Every role is validated (`validateRole`);
 * errors carry the `line:column` of the offending value. Role names must be unique
 * across the file. Throws BulwarkError INVALID_ROLE.
 */
export function parseRolesYaml(text: string): Role[] {
  const roles: Role[] = [];
  const seen = new Map<string, string>();
  for (const doc of loadYaml(text, 'INVALID_ROLE', 'roles file')) {
    for (const { input, path } of roleEntries(doc.data, doc.locate)) {
      let role: Role;
      try {
        role = validateRole(input);
      } catch (err) {
        if (!isBulwarkError(err)) throw err;
        const within = Array.isArray(err.details?.['path']) ? (err.details['path'] as RolePath) : [];
        throw new BulwarkError('INVALID_ROLE', `line ${doc.locate([...path, ...within])}: ${err.message}`, err.details);
      }
      const where = doc.locate([...path, 'name']);
      const first = seen.get(role.name);
      if (first !== undefined) {
        throw new BulwarkError('INVALID_ROLE', `line ${where}: role "${role.name}" is defined twice (first at line ${first})`, { role: role.name });
      }
      seen.set(role.name, where);
      roles.push(role);
    }
  }
  if (roles.length === 0) {
    throw new BulwarkError('INVALID_ROLE', 'roles file defines no roles: expected "roles:" with a list of roles');
  }
  return roles;
}

function roleEntries(data: unknown, locate: (path: RolePath) => string): { input: unknown; path: RolePath }[] {
  if (data === null || data === undefined) return [];
  if (Array.isArray(data)) return data.map((input, i) => ({ input, path: [i] }));
  if (typeof data === 'object' && Object.hasOwn(data, 'roles')) {
    const { roles, ...rest } = data as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length > 0) {
      throw new BulwarkError('INVALID_ROLE', `line ${locate([extra[0] ?? ''])}: unknown top-level field "${extra[0]}" (a roles file has only "roles")`);
    }
    if (roles === null) return [];
    if (!Array.isArray(roles)) throw new BulwarkError('INVALID_ROLE', `line ${locate(['roles'])}: "roles" must be a list of roles`);
    return roles.map((input, i) => ({ input, path: ['roles', i] }));
  }
  if (typeof data === 'object') return [{ input: data, path: [] }];
  throw new BulwarkError('INVALID_ROLE', `line ${locate([])}: expected "roles:" with a list of roles, a list of roles, or one role`);
}
