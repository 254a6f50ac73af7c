import { matchesSelector, parseSelector } from '../core/labels.js';
import type { Labels, Requirement, Selector } from '../core/labels.js';
import { compileSecretGlob, matchesEveryPath, type SecretPathMatcher } from '../secrets/glob.js';
import { isResource, isVerbOf, RESOURCE_VERBS, WILDCARD } from './roles.js';
import type { Role, Rule } from './roles.js';

/** What is asked: a verb on a resource, maybe about one node, maybe for one SSH login. */
export interface AccessRequest {
  resource: string;
  verb: string;
  /** The node the request is about; absent for requests about no particular node. */
  node?: { labels: Labels };
  /** The SSH login asked for (`ssh: sign`). */
  principal?: string;
  /** The secret path the request is about; absent for requests about no particular secret. */
  path?: string;
  /**
   * Whether the caller's session passed MFA. When `false`, roles with
   * `requireMfa` grant nothing (their deny rules still apply). Leave it out where
   * MFA does not apply (API tokens, or when it was enforced at login).
   */
  mfaVerified?: boolean;
}

export interface Decision {
  allowed: boolean;
  reason: { kind: 'allow' | 'deny' | 'default-deny'; role?: string; ruleIndex?: number; rule?: Rule };
  /** One sentence for people: which role and rule decided, or why nothing did. */
  explanation: string;
}

type Effect = 'allow' | 'deny';

// A selector that fails to parse (a role stored before validation tightened, or
// written around it) fails closed: an allow rule with it matches no node, a deny
// rule with it matches every node.
type NodeMatcher = { kind: 'any' } | { kind: 'selector'; selector: Selector } | { kind: 'invalid' };

// Globs that fail to compile fail closed the same way selectors do.
type PathMatcher = { kind: 'any' } | { kind: 'globs'; match: SecretPathMatcher[]; everyPath: boolean } | { kind: 'invalid' };

interface CompiledRule {
  role: Role;
  index: number;
  effect: Effect;
  rule: Rule;
  nodes: NodeMatcher;
  paths: PathMatcher;
}

const matcherCache = new WeakMap<Rule, NodeMatcher>();
const pathMatcherCache = new WeakMap<Rule, PathMatcher>();

function pathMatcher(rule: Rule): PathMatcher {
  let matcher = pathMatcherCache.get(rule);
  if (!matcher) {
    if (rule.paths === undefined) matcher = { kind: 'any' };
    else {
      try {
        matcher = { kind: 'globs', match: rule.paths.map(compileSecretGlob), everyPath: rule.paths.some(matchesEveryPath) };
      } catch {
        matcher = { kind: 'invalid' };
      }
    }
    pathMatcherCache.set(rule, matcher);
  }
  return matcher;
}

// Like a selector for nodes: a rule with paths is about paths, so it says nothing
// about a request without one (allow or deny alike).
function pathMatches(effect: Effect, matcher: PathMatcher, path: string | undefined): boolean {
  if (matcher.kind === 'any') return true;
  if (path === undefined) return false;
  if (matcher.kind === 'invalid') return effect === 'deny';
  return matcher.match.some((m) => m(path));
}

function nodeMatcher(rule: Rule): NodeMatcher {
  let matcher = matcherCache.get(rule);
  if (!matcher) {
    if (rule.nodes === undefined) matcher = { kind: 'any' };
    else {
      try {
        matcher = { kind: 'selector', selector: parseSelector(rule.nodes) };
      } catch {
        matcher = { kind: 'invalid' };
      }
    }
    matcherCache.set(rule, matcher);
  }
  return matcher;
}

function listHas(list: readonly string[] | undefined, value: string): boolean {
  return list !== undefined && (list.includes(WILDCARD) || list.includes(value));
}

function principalMatches(effect: Effect, rule: Rule, principal: string | undefined): boolean {
  // Principals narrow a rule only for requests that name one (see Rule). An allow
  // rule without principals grants no login; a deny rule without them refuses all.
  if (principal === undefined) return effect === 'allow' || rule.principals === undefined;
  if (rule.principals === undefined) return effect === 'deny';
  return listHas(rule.principals, principal);
}

function nodeMatches(effect: Effect, matcher: NodeMatcher, node: { labels: Labels } | undefined): boolean {
  if (matcher.kind === 'any') return true;
  if (node === undefined) return false;
  if (matcher.kind === 'invalid') return effect === 'deny';
  return matchesSelector(matcher.selector, node.labels);
}

/** The rules of `roles` that concern this resource and verb, deny rules first. */
function relevantRules(roles: readonly Role[], resource: string, verb: string): CompiledRule[] {
  const out: CompiledRule[] = [];
  for (const effect of ['deny', 'allow'] as const) {
    for (const role of roles) {
      role[effect].forEach((rule, index) => {
        if (listHas(rule.resources, resource) && listHas(rule.verbs, verb)) {
          out.push({ role, index, effect, rule, nodes: nodeMatcher(rule), paths: pathMatcher(rule) });
        }
      });
    }
  }
  return out;
}

function grants(c: CompiledRule, mfaVerified: boolean | undefined): boolean {
  return c.effect === 'deny' || !(mfaVerified === false && c.role.requireMfa === true);
}

/** `nodes: exec on env=staging`, `ssh: sign as *` or `secrets: read at app/*`. */
export function describeRule(rule: Rule): string {
  let text = `${rule.resources.join(', ')}: ${rule.verbs.join(', ')}`;
  if (rule.nodes !== undefined) text += ` on ${rule.nodes}`;
  if (rule.principals !== undefined) text += ` as ${rule.principals.join(', ')}`;
  if (rule.paths !== undefined) text += ` at ${rule.paths.join(', ')}`;
  return text;
}

function describeRequest(request: AccessRequest): string {
  let text = `${request.verb} on ${request.resource}`;
  if (request.node) {
    const labels = Object.entries(request.node.labels).map(([k, v]) => `${k}=${v}`).join(',');
    text += labels === '' ? ' for a node without labels' : ` for a node labelled ${labels}`;
  }
  if (request.principal !== undefined) text += ` as ${request.principal}`;
  if (request.path !== undefined) text += ` at ${request.path}`;
  return text;
}

function decided(c: CompiledRule): Decision {
  const allowed = c.effect === 'allow';
  return {
    allowed,
    reason: { kind: c.effect, role: c.role.name, ruleIndex: c.index, rule: c.rule },
    explanation: `${allowed ? 'allowed' : 'denied'} by role ${c.role.name}, ${c.effect} rule ${c.index} (${describeRule(c.rule)})`,
  };
}

function defaultDeny(roles: readonly Role[], request: AccessRequest): Decision {
  const names = roles.map((r) => r.name);
  let explanation =
    names.length === 0
      ? `no roles, so nothing allows ${describeRequest(request)}`
      : `no rule of roles [${names.join(', ')}] allows ${describeRequest(request)}`;
  if (!isResource(request.resource)) {
    explanation += ` ("${request.resource}" is not a resource)`;
  } else if (!isVerbOf(request.resource, request.verb)) {
    explanation += ` ("${request.verb}" is not a verb of ${request.resource}: ${RESOURCE_VERBS[request.resource].join(', ')})`;
  }
  const needMfa = request.mfaVerified === false ? roles.filter((r) => r.requireMfa === true).map((r) => r.name) : [];
  if (needMfa.length > 0) explanation += `; role ${needMfa.join(', ')} requires MFA, which this session has not passed`;
  return { allowed: false, reason: { kind: 'default-deny' }, explanation };
}

/**
 * The one access decision, used by every route and by `access check`. Deny rules
 * win over allow rules across all roles; with no matching allow rule the answer
 * is no. A rule with a `nodes` selector matches only a request about a node whose
 * labels match it, a rule with `paths` only a request about a secret path one
 * of its globs matches; principals are described on `Rule`.
 *
 * @example authorize(roles, { resource: 'nodes', verb: 'exec', node: { labels: { env: 'staging' } } })
 */
export function authorize(roles: readonly Role[], request: AccessRequest): Decision {
  const rules = relevantRules(roles, request.resource, request.verb);
  const matches = (c: CompiledRule): boolean =>
    grants(c, request.mfaVerified) &&
    principalMatches(c.effect, c.rule, request.principal) &&
    nodeMatches(c.effect, c.nodes, request.node) &&
    pathMatches(c.effect, c.paths, request.path);
  // Deny rules come first in `rules`, so the first match is the deciding one.
  const hit = rules.find(matches);
  return hit ? decided(hit) : defaultDeny(roles, request);
}

export interface FilterOptions {
  principal?: string;
  /** The secret path the filtered requests are about. */
  path?: string;
  mfaVerified?: boolean;
}

/**
 * A predicate for filtering node lists: a node is visible iff
 * `authorize(roles, { resource, verb, node: { labels } })` allows it. The rules are
 * selected and their selectors parsed once, not per node.
 */
export function nodeFilter(roles: readonly Role[], resource: string, verb: string, options: FilterOptions = {}): (labels: Labels) => boolean {
  const rules = relevantRules(roles, resource, verb).filter(
    (c) => grants(c, options.mfaVerified) && principalMatches(c.effect, c.rule, options.principal) && pathMatches(c.effect, c.paths, options.path),
  );
  const denies = rules.filter((c) => c.effect === 'deny');
  const allows = rules.filter((c) => c.effect === 'allow');
  return (labels) => {
    const node = { labels };
    return !denies.some((c) => nodeMatches('deny', c.nodes, node)) && allows.some((c) => nodeMatches('allow', c.nodes, node));
  };
}

/**
 * Whether `verb` on `resource` is allowed for at least one possible request: about
 * no node or about some node (any labels), for no principal or some principal.
 * Exactly: there exist labels and a principal (each possibly absent) for which
 * `authorize` allows. Selectors are reasoned about symbolically, so the answer
 * does not depend on which nodes exist. Secret path globs are not: there the
 * answer may be yes although every path is denied (never the other way round).
 *
 * Routes about nodes use it to choose between 403 (the caller can never do this)
 * and a filtered list or a 404 (the caller can, but not on that node); routes
 * about no node call `authorize` without a node.
 */
export function canAccessResource(roles: readonly Role[], resource: string, verb: string, options: { mfaVerified?: boolean } = {}): boolean {
  // Path globs are not reasoned about: a deny rule whose globs do not cover every
  // path is taken to leave some path out, so the answer may be yes where every
  // path is in fact denied. Routes about a path decide again with the path.
  const rules = relevantRules(roles, resource, verb).filter((c) => grants(c, options.mfaVerified) && !(c.effect === 'deny' && leavesSomePath(c.paths)));
  const allows = rules.filter((c) => c.effect === 'allow');
  if (allows.length === 0) return false;
  for (const principal of principalCandidates(rules)) {
    const applicable = (c: CompiledRule): boolean => principalMatches(c.effect, c.rule, principal);
    const a = allows.filter(applicable);
    const d = rules.filter((c) => c.effect === 'deny' && applicable(c));
    if (a.length === 0) continue;
    // A deny rule without a selector matches every request, with a node or without.
    if (d.some((c) => c.nodes.kind === 'any')) continue;
    if (a.some((c) => c.nodes.kind === 'any')) return true;
    const denySelectors: (readonly Requirement[] | undefined)[] = d.map((c) => (c.nodes.kind === 'selector' ? c.nodes.selector.requirements : undefined));
    for (const c of a) {
      if (c.nodes.kind === 'selector' && someNodeEscapes([...c.nodes.selector.requirements], denySelectors, 0)) return true;
    }
  }
  return false;
}

function leavesSomePath(matcher: PathMatcher): boolean {
  return matcher.kind === 'globs' && !matcher.everyPath;
}

/**
 * A predicate for filtering lists of secret paths: a path is visible iff
 * `authorize(roles, { resource, verb, path, node })` allows it. The rules are
 * selected and their globs compiled once, not per path.
 */
export function pathFilter(roles: readonly Role[], resource: string, verb: string, options: { node?: { labels: Labels }; principal?: string; mfaVerified?: boolean } = {}): (path: string) => boolean {
  const rules = relevantRules(roles, resource, verb).filter(
    (c) => grants(c, options.mfaVerified) && principalMatches(c.effect, c.rule, options.principal) && nodeMatches(c.effect, c.nodes, options.node),
  );
  const denies = rules.filter((c) => c.effect === 'deny');
  const allows = rules.filter((c) => c.effect === 'allow');
  return (path) => !denies.some((c) => pathMatches('deny', c.paths, path)) && allows.some((c) => pathMatches('allow', c.paths, path));
}

/**
 * The principals worth trying: none, each login an allow rule names, and one that
 * no rule names (standing for every other login, which only `*` can grant).
 */
function principalCandidates(rules: readonly CompiledRule[]): (string | undefined)[] {
  const named = new Set<string>();
  for (const c of rules) for (const p of c.rule.principals ?? []) if (p !== WILDCARD) named.add(p);
  let other = '\u0000other';
  while (named.has(other)) other += '\u0000';
  return [undefined, ...named, other];
}

/**
 * Whether some label set satisfies `required` and none of the deny selectors from
 * `from` on. A label set escapes a deny selector by violating at least one of its
 * requirements, so each deny branches on which requirement to negate.
 * `undefined` stands for an unparsable deny selector, which matches every node.
 */
function someNodeEscapes(required: Requirement[], denies: readonly (readonly Requirement[] | undefined)[], from: number): boolean {
  if (!satisfiable(required)) return false;
  if (from === denies.length) return true;
  const deny = denies[from];
  if (deny === undefined) return false;
  return deny.some((req) => someNodeEscapes([...required, negate(req)], denies, from + 1));
}

// Under Kubernetes' semantics `notin` holds for an absent key, so each operator
// has an exact complement.
function negate(req: Requirement): Requirement {
  switch (req.op) {
    case 'exists':
      return { key: req.key, op: 'notexists' };
    case 'notexists':
      return { key: req.key, op: 'exists' };
    case 'in':
      return { key: req.key, op: 'notin', values: req.values };
    case 'notin':
      return { key: req.key, op: 'in', values: req.values };
  }
}

/** Whether some label set meets every requirement (label values are unbounded). */
function satisfiable(reqs: readonly Requirement[]): boolean {
  const byKey = new Map<string, Requirement[]>();
  for (const r of reqs) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
  for (const list of byKey.values()) {
    const mustExist = list.some((r) => r.op === 'exists' || r.op === 'in');
    if (!mustExist) continue; // absent satisfies notexists and notin alike
    if (list.some((r) => r.op === 'notexists')) return false;
    const excluded = new Set(list.flatMap((r) => (r.op === 'notin' ? r.values : [])));
    const ins = list.flatMap((r) => (r.op === 'in' ? [r.values] : []));
    const [first, ...rest] = ins;
    if (first === undefined) continue; // some fresh value avoids every notin
    const possible = first.filter((v) => rest.every((vs) => vs.includes(v)) && !excluded.has(v));
    if (possible.length === 0) return false;
  }
  return true;
}
