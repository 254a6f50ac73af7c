import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import type { Finding, FindingStatus } from '../model.js';
import { createRootedHost, evaluatePolicy, type Policy } from '../policy/index.js';
import { CAN_CHOWN, type FixtureTree, type Overlay, OverlaySchema, applyOverlayInPlace, loadBaseTree, materializeTree, FIXTURE_NOW } from './fixture-materialize.js';
import { loadBuiltinPack } from './index.js';

/** The audit clock of every run: fixture certificates and file times are written against it. */
const NOW = FIXTURE_NOW;
/** Checks that do not apply to the base machine on purpose, and why. */
const NOT_APPLICABLE_ON_BASE: ReadonlyMap<string, string> = new Map([['at-allow-list', 'the at package is not installed']]);
const MIN_CHECKS = 60;
/** Base trees evaluated side by side; more buys little, the evaluation is mostly CPU. */
const WORKSPACES = 2;

const CHECK_FIXTURES = new URL('./fixtures/linux-baseline/', import.meta.url);

const CheckFixtureSchema = z.strictObject({ pass: OverlaySchema, fail: OverlaySchema, fail_evidence: z.string().min(1) });
type CheckFixture = z.infer<typeof CheckFixtureSchema>;

// Fixture files carry root:shadow and 0640 on purpose; only root can give files away.
const NEEDS_ROOT = 'materializing fixtures needs root: the trees carry owners and groups (root:shadow) that only root can set';

/** Every fixture file by check id (its file name), parsed; a malformed one fails the test that reads it. */
async function loadCheckFixtures(): Promise<Map<string, CheckFixture>> {
  const out = new Map<string, CheckFixture>();
  for (const name of (await readdir(CHECK_FIXTURES)).sort()) {
    if (!name.endsWith('.yml')) continue;
    const parsed = CheckFixtureSchema.safeParse(parse(await readFile(new URL(name, CHECK_FIXTURES), 'utf8')));
    if (!parsed.success) assert.fail(`fixtures/linux-baseline/${name}: ${z.prettifyError(parsed.error)}`);
    out.set(name.slice(0, -'.yml'.length), parsed.data);
  }
  return out;
}

/**
 * Base trees to evaluate overlays on, handed out one at a time: each case turns
 * a workspace into base + overlay in place, evaluates, and turns it back.
 */
class Workspaces {
  private readonly free: string[] = [];
  private readonly waiting: ((root: string) => void)[] = [];

  private constructor(
    private readonly base: FixtureTree,
    readonly roots: readonly string[],
  ) {
    this.free.push(...roots);
  }

  static async create(base: FixtureTree, count: number): Promise<Workspaces> {
    const roots: string[] = [];
    for (let i = 0; i < count; i++) {
      const root = await mkdtemp(join(tmpdir(), 'bulwark-pack-'));
      roots.push(root);
      await materializeTree(root, base, { chown: CAN_CHOWN });
    }
    return new Workspaces(base, roots);
  }

  async evaluate(pack: Policy, overlay: Overlay): Promise<Map<string, Finding>> {
    const root = this.free.pop() ?? (await new Promise<string>((resolve) => this.waiting.push(resolve)));
    try {
      const revert = await applyOverlayInPlace(root, this.base, overlay, { chown: CAN_CHOWN });
      try {
        return await evaluateOn(pack, root);
      } finally {
        await revert();
      }
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.free.push(root);
      else next(root);
    }
  }

  async remove(): Promise<void> {
    await Promise.all(this.roots.map((root) => rm(root, { recursive: true, force: true })));
  }
}

async function evaluateOn(pack: Policy, root: string): Promise<Map<string, Finding>> {
  const result = await evaluatePolicy(pack, createRootedHost(root), { now: NOW });
  assert.deepEqual(result.errors, [], 'the evaluation reported errors');
  return new Map(result.findings.map((f) => [f.ruleId, f]));
}

function isEmpty(overlay: Overlay): boolean {
  return Object.keys(overlay.set ?? {}).length === 0 && (overlay.remove ?? []).length === 0;
}

function statuses(findings: ReadonlyMap<string, Finding>): Map<string, FindingStatus> {
  return new Map([...findings].map(([id, f]) => [id, f.status]));
}

/** The checks whose status differs from the base run, other than `except`. */
function changedBesides(base: ReadonlyMap<string, FindingStatus>, now: ReadonlyMap<string, Finding>, except: string): string[] {
  return [...base]
    .filter(([id, status]) => id !== except && now.get(id)?.status !== status)
    .map(([id, status]) => `${id}: ${status} → ${now.get(id)?.status ?? 'missing'} (${now.get(id)?.evidence ?? ''})`);
}

test('linux-baseline has enough checks, each with a unique id, severity, rationale and remediation', async () => {
  const pack = await loadBuiltinPack('linux-baseline');
  assert.equal(pack.id, 'linux-baseline');
  assert.equal(pack.format, 'bulwark/v1');
  assert.ok(pack.checks.length >= MIN_CHECKS, `${pack.checks.length} checks, at least ${MIN_CHECKS} expected`);
  const ids = pack.checks.map((c) => c.id);
  assert.equal(new Set(ids).size, ids.length, 'check ids are unique');
  for (const check of pack.checks) {
    assert.ok(check.title.trim() !== '', `${check.id}: title`);
    assert.ok((check.rationale ?? '').trim() !== '', `${check.id}: rationale`);
    assert.ok((check.remediation ?? '').trim() !== '', `${check.id}: remediation`);
    assert.ok(['critical', 'high', 'medium', 'low', 'info'].includes(check.severity), `${check.id}: severity`);
  }
});

test('every check has a fixture with pass and fail overlays, and every fixture names a check', async () => {
  const pack = await loadBuiltinPack('linux-baseline');
  const fixtures = await loadCheckFixtures();
  const ids = new Set(pack.checks.map((c) => c.id));
  assert.deepEqual(
    { withoutFixture: [...ids].filter((id) => !fixtures.has(id)), namingNoCheck: [...fixtures.keys()].filter((id) => !ids.has(id)) },
    { withoutFixture: [], namingNoCheck: [] },
    'every check of the pack needs fixtures/linux-baseline/<id>.yml, and every such file a check',
  );
  for (const id of NOT_APPLICABLE_ON_BASE.keys()) assert.ok(ids.has(id), `NOT_APPLICABLE_ON_BASE names unknown check ${id}`);
});

test('every check passes on the hardened base machine, but those that deliberately do not apply', { skip: CAN_CHOWN ? false : NEEDS_ROOT }, async (t) => {
  const pack = await loadBuiltinPack('linux-baseline');
  const workspaces = await Workspaces.create(await loadBaseTree(), 1);
  t.after(() => workspaces.remove());
  const findings = await workspaces.evaluate(pack, {});
  assert.equal(findings.size, pack.checks.length);
  const unexpected = [...findings.values()]
    .filter((f) => f.status !== (NOT_APPLICABLE_ON_BASE.has(f.ruleId) ? 'not_applicable' : 'pass'))
    .map((f) => `${f.ruleId}: ${f.status} (${f.evidence})`);
  assert.deepEqual(unexpected, []);
});

test('each check passes on its pass tree and fails on its fail tree with its evidence, and nothing else changes', { skip: CAN_CHOWN ? false : NEEDS_ROOT, concurrency: true }, async (t) => {
  const pack = await loadBuiltinPack('linux-baseline');
  const fixtures = await loadCheckFixtures();
  const workspaces = await Workspaces.create(await loadBaseTree(), WORKSPACES);
  t.after(() => workspaces.remove());
  const baseFindings = await workspaces.evaluate(pack, {});
  const baseStatuses = statuses(baseFindings);
  await Promise.all(
    pack.checks.map((check) =>
      t.test(check.id, async () => {
        const fixture = fixtures.get(check.id);
        assert.ok(fixture !== undefined, `no fixture for ${check.id}`);
        // An empty pass overlay is the base machine itself, already evaluated; otherwise the
        // check alone is enough to judge its pass tree, and far cheaper than the whole pack.
        const passed = isEmpty(fixture.pass) ? baseFindings : await workspaces.evaluate({ ...pack, checks: [check] }, fixture.pass);
        assert.equal(passed.get(check.id)?.status, 'pass', `pass tree: ${passed.get(check.id)?.evidence}`);
        const failed = await workspaces.evaluate(pack, fixture.fail);
        const finding = failed.get(check.id);
        assert.equal(finding?.status, 'fail', `fail tree: ${finding?.evidence}`);
        assert.ok(finding.evidence.includes(fixture.fail_evidence), `evidence ${JSON.stringify(finding.evidence)} lacks ${JSON.stringify(fixture.fail_evidence)}`);
        assert.deepEqual(changedBesides(baseStatuses, failed, check.id), [], 'fail tree changed other checks');
      }),
    ),
  );
  // Every overlay was undone: the workspaces are the base machine again.
  for (const root of workspaces.roots) assert.deepEqual(statuses(await evaluateOn(pack, root)), baseStatuses, `${root} was not restored`);
});
