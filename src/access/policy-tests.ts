import { z } from 'zod';
import { BulwarkError, isBulwarkError } from '../core/errors.js';
import { assertLabels, parseLabels } from '../core/labels.js';
import type { Labels } from '../core/labels.js';
import { authorize } from './evaluate.js';
import type { AccessRequest, Decision } from './evaluate.js';
import { isResource, isVerbOf, RESOURCE_VERBS, RESOURCES } from './roles.js';
import type { Role } from './roles.js';
import { loadYaml } from './yaml-source.js';

/**
 * Whose access a test asks about: a user (through their roles) or one role alone.
 * Exactly one of the two is set.
 */
export interface PolicySubject {
  user?: string;
  role?: string;
}

/** One assertion, as the YAML's mapping form spells it (sentences are parsed into it). */
export interface PolicyTest extends PolicySubject {
  /** The test's name, or its sentence when it has none. */
  name: string;
  verb: string;
  resource: string;
  node?: { labels: Labels };
  principal?: string;
  expect: 'allow' | 'deny';
  /** `line:column` in the file, for messages. */
  location?: string;
}

export interface PolicyTestResult {
  name: string;
  passed: boolean;
  expected: 'allow' | 'deny';
  /**
   * The decision `authorize` took; when the subject could not be resolved, a
   * default deny whose explanation says why (and the test fails either way).
   */
  decision: Decision;
  test: PolicyTest;
  /** One line: what was expected, what happened and why. */
  message: string;
}

const LabelsSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String));

const FullTestSchema = z
  .strictObject({
    name: z.string().optional(),
    user: z.string().min(1).optional(),
    role: z.string().min(1).optional(),
    verb: z.string(),
    resource: z.string(),
    node: z.strictObject({ labels: LabelsSchema }).optional(),
    principal: z.string().min(1).optional(),
    expect: z.enum(['allow', 'deny']),
  })
  .refine((t) => (t.user === undefined) !== (t.role === undefined), { message: 'give exactly one of "user" and "role"' });

/**
 * Parses a policy test file for `bulwark access test`:
 *
 * ```yaml
 * tests:
 *   - alice can exec on env=staging          # verb exec, resource nodes, a node labelled env=staging
 *   - bob cannot read secrets
 *   - role:operator cannot sign ssh as root  # a role alone; "as" names the SSH login
 *   - name: auditors verify the log
 *     role: auditor
 *     verb: verify
 *     resource: auditlog
 *     expect: allow
 * ```
 *
 * A list at the top level works too. Sentences read
 * `<subject> can|cannot <verb> [<resource>] [on <labels>] [as <login>]`; the
 * resource defaults to `nodes` when `on` follows the verb. Unknown resources and
 * verbs are errors, so a typo cannot make a "cannot" test pass. Throws
 * BAD_REQUEST with the `line:column` of the bad test.
 */
export function parsePolicyTests(yamlText: string): PolicyTest[] {
  const tests: PolicyTest[] = [];
  for (const doc of loadYaml(yamlText, 'BAD_REQUEST', 'policy test file')) {
    const { items, path } = testItems(doc.data, doc.locate);
    items.forEach((item, i) => {
      const location = doc.locate([...path, i]);
      try {
        tests.push({ ...parseItem(item), location });
      } catch (err) {
        if (!isBulwarkError(err)) throw err;
        throw new BulwarkError(err.code, `policy test file: line ${location}: test ${tests.length + 1}: ${err.message}`, err.details);
      }
    });
  }
  if (tests.length === 0) throw new BulwarkError('BAD_REQUEST', 'policy test file holds no tests: expected "tests:" with a list');
  return tests;
}

function testItems(data: unknown, locate: (path: (string | number)[]) => string): { items: unknown[]; path: (string | number)[] } {
  if (data === null || data === undefined) return { items: [], path: [] };
  if (Array.isArray(data)) return { items: data, path: [] };
  if (typeof data === 'object' && Object.hasOwn(data, 'tests')) {
    const { tests, ...rest } = data as Record<string, unknown>;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) {
      throw new BulwarkError('BAD_REQUEST', `policy test file: line ${locate([extra])}: unknown top-level field "${extra}" (the file has only "tests")`);
    }
    if (tests === null) return { items: [], path: ['tests'] };
    if (Array.isArray(tests)) return { items: tests, path: ['tests'] };
  }
  throw new BulwarkError('BAD_REQUEST', `policy test file: line ${locate([])}: expected "tests:" with a list of tests`);
}

function parseItem(item: unknown): PolicyTest {
  if (typeof item === 'string') return parsePolicySentence(item);
  const parsed = FullTestSchema.safeParse(item);
  if (!parsed.success) {
    // A misspelt field also shows up as a missing one: name the misspelling.
    const issue = parsed.error.issues.find((i) => i.code === 'unrecognized_keys') ?? parsed.error.issues[0];
    const field = issue?.path.join('.') ?? '';
    const why = issue?.code === 'unrecognized_keys' ? `unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')}` : (issue?.message ?? 'invalid');
    throw new BulwarkError('BAD_REQUEST', `${field ? `${field}: ` : ''}${why} (a test is a sentence such as "alice can exec on env=staging" or a mapping with user or role, verb, resource and expect)`);
  }
  const t = parsed.data;
  checkVocabulary(t.resource, t.verb);
  const test: PolicyTest = { name: '', ...(t.user !== undefined ? { user: t.user } : { role: t.role ?? '' }), verb: t.verb, resource: t.resource, expect: t.expect };
  if (t.node) {
    assertLabels(t.node.labels);
    test.node = { labels: t.node.labels };
  }
  if (t.principal !== undefined) test.principal = t.principal;
  test.name = t.name ?? describeTest(test);
  return test;
}

const SENTENCE = /^(\S+)\s+(can\s+not|cannot|can['’]t|can)\s+(\S+)(?:\s+(.*))?$/i;

/**
 * Parses one test sentence: `alice can exec on env=staging`,
 * `bob cannot read secrets`, `role:operator cannot sign ssh as root`,
 * `carol can read nodes on env=prod,tier=db`. A subject `role:<name>` tests one
 * role; any other subject is a user name (`user:<name>` also works).
 */
export function parsePolicySentence(sentence: string): PolicyTest {
  const match = SENTENCE.exec(sentence.trim());
  if (!match) {
    throw new BulwarkError('BAD_REQUEST', `"${sentence}" is not of the form "<user> can|cannot <verb> <resource> [on <labels>] [as <login>]"`);
  }
  const [, who = '', modal = '', verb = '', tail = ''] = match;
  const subject = parseSubject(who);
  const expect = modal.toLowerCase() === 'can' ? 'allow' : 'deny';
  const words = tail.trim() === '' ? [] : tail.trim().split(/\s+/);
  let resource: string | undefined;
  let labels: Labels | undefined;
  let principal: string | undefined;
  let i = 0;
  if (words[0] !== undefined && words[0] !== 'on' && words[0] !== 'as') {
    resource = words[0];
    i = 1;
  }
  while (i < words.length) {
    const keyword = words[i];
    // Labels may be written with spaces after commas: gather up to the next keyword.
    let j = i + 1;
    while (j < words.length && words[j] !== 'on' && words[j] !== 'as') j++;
    const value = words.slice(i + 1, j).join('');
    if (value === '') throw new BulwarkError('BAD_REQUEST', `"${sentence}": "${keyword}" needs a value after it`);
    if (keyword === 'on' && labels === undefined) {
      labels = parseLabels(value.split(',').filter((p) => p !== ''));
    } else if (keyword === 'as' && principal === undefined) {
      principal = value;
    } else {
      throw new BulwarkError('BAD_REQUEST', `"${sentence}": unexpected "${keyword ?? ''}" (give at most one "on <labels>" and one "as <login>")`);
    }
    i = j;
  }
  if (resource === undefined) {
    if (labels === undefined) throw new BulwarkError('BAD_REQUEST', `"${sentence}" names no resource: say e.g. "${who} ${modal} ${verb} nodes"`);
    resource = 'nodes';
  }
  checkVocabulary(resource, verb);
  const test: PolicyTest = { name: sentence.trim(), ...subject, verb, resource, expect };
  if (labels !== undefined) test.node = { labels };
  if (principal !== undefined) test.principal = principal;
  return test;
}

function parseSubject(who: string): PolicySubject {
  const colon = who.indexOf(':');
  const kind = colon === -1 ? 'user' : who.slice(0, colon);
  const name = colon === -1 ? who : who.slice(colon + 1);
  if ((kind !== 'user' && kind !== 'role') || name === '') {
    throw new BulwarkError('BAD_REQUEST', `subject "${who}" is not a user name, "user:<name>" or "role:<name>"`);
  }
  return kind === 'user' ? { user: name } : { role: name };
}

function checkVocabulary(resource: string, verb: string): void {
  if (!isResource(resource)) {
    throw new BulwarkError('BAD_REQUEST', `unknown resource "${resource}" (resources: ${RESOURCES.join(', ')})`);
  }
  if (!isVerbOf(resource, verb)) {
    throw new BulwarkError('BAD_REQUEST', `"${verb}" is not a verb of ${resource} (verbs: ${RESOURCE_VERBS[resource].join(', ')})`);
  }
}

/** `alice` for a user, `role:auditor` for a role: the sentence form's subject. */
export function policySubjectKey(subject: PolicySubject): string {
  return subject.user !== undefined ? subject.user : `role:${subject.role ?? ''}`;
}

function describeTest(test: PolicyTest): string {
  let text = `${policySubjectKey(test)} ${test.expect === 'allow' ? 'can' : 'cannot'} ${test.verb} ${test.resource}`;
  if (test.node) text += ` on ${Object.entries(test.node.labels).map(([k, v]) => `${k}=${v}`).join(',')}`;
  if (test.principal !== undefined) text += ` as ${test.principal}`;
  return text;
}

/** The distinct subjects of `tests`, so a caller can load their roles before running them. */
export function policyTestSubjects(tests: readonly PolicyTest[]): PolicySubject[] {
  const seen = new Map<string, PolicySubject>();
  for (const t of tests) seen.set(policySubjectKey(t), t.user !== undefined ? { user: t.user } : { role: t.role ?? '' });
  return [...seen.values()];
}

/** The request a test puts to `authorize`. */
export function policyTestRequest(test: PolicyTest): AccessRequest {
  const request: AccessRequest = { resource: test.resource, verb: test.verb };
  if (test.node) request.node = { labels: test.node.labels };
  if (test.principal !== undefined) request.principal = test.principal;
  return request;
}

/**
 * Runs each test through `authorize` against the roles `resolveRoles` gives its
 * subject. `resolveRoles` should throw for an unknown user or role: the test then
 * fails with that message, rather than a misspelt name passing every "cannot".
 */
export function runPolicyTests(tests: readonly PolicyTest[], resolveRoles: (subject: PolicySubject) => Role[]): PolicyTestResult[] {
  return tests.map((test) => {
    const base = { name: test.name, expected: test.expect, test };
    let roles: Role[];
    try {
      roles = resolveRoles(test.user !== undefined ? { user: test.user } : { role: test.role ?? '' });
    } catch (err) {
      const why = `${policySubjectKey(test)} could not be resolved: ${err instanceof Error ? err.message : String(err)}`;
      return { ...base, passed: false, decision: { allowed: false, reason: { kind: 'default-deny' }, explanation: why }, message: why };
    }
    const decision = authorize(roles, policyTestRequest(test));
    const got = decision.allowed ? 'allow' : 'deny';
    const passed = got === test.expect;
    const message = passed ? decision.explanation : `expected ${test.expect}, got ${got}: ${decision.explanation}`;
    return { ...base, passed, decision, message };
  });
}
