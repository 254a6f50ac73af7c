import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { randomInt } from 'node:crypto';
import { BulwarkError } from '../../core/errors.js';
import { compareDebianVersions, debianVersionProblem, parseDebianVersion } from './debian-version.js';
import { readRealworld } from './realworld-files.js';

const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);

test('parseDebianVersion splits epoch, upstream and revision at the last hyphen', () => {
  assert.deepEqual(parseDebianVersion('1:2.38.1-5+deb12u3'), { epoch: 1, upstream: '2.38.1', revision: '5+deb12u3' });
  assert.deepEqual(parseDebianVersion('3.1-20221030-2'), { epoch: 0, upstream: '3.1-20221030', revision: '2' });
  assert.deepEqual(parseDebianVersion('20230311'), { epoch: 0, upstream: '20230311', revision: '' });
  // The epoch ends at the first colon; later colons belong to the upstream version.
  assert.deepEqual(parseDebianVersion('1:1:0-1'), { epoch: 1, upstream: '1:0', revision: '1' });
  // dpkg ignores white space around a version and reads the epoch with strtol.
  assert.deepEqual(parseDebianVersion(' 2.0 '), { epoch: 0, upstream: '2.0', revision: '' });
  assert.deepEqual(parseDebianVersion('-0:1.0'), { epoch: 0, upstream: '1.0', revision: '' });
});

test('parseDebianVersion rejects what dpkg rejects, in its words', () => {
  const cases: [string, string][] = [
    ['', 'version string is empty'],
    ['   ', 'version string is empty'],
    ['1 0', 'version string has embedded spaces'],
    [':1.0', 'epoch in version is empty'],
    ['a:1.0', 'epoch in version is empty'],
    ['1a:1.0', 'epoch in version is not number'],
    ['-1:1.0', 'epoch in version is negative'],
    ['99999999999:1', 'epoch in version is too big'],
    ['1:', 'nothing after colon in version number'],
    ['1.0-', 'revision number is empty'],
    ['-1', 'version number is empty'],
    ['a1.0', 'version number does not start with digit'],
    ['1.0_1', 'invalid character in version number'],
    ['1.0-1_1', 'invalid character in revision number'],
    ['1:1.0-1:1', 'invalid character in revision number'],
    ['1.0-1:1', 'epoch in version is not number'],
  ];
  for (const [version, problem] of cases) {
    assert.equal(debianVersionProblem(version), problem, JSON.stringify(version));
    assert.throws(
      () => parseDebianVersion(version),
      (err: unknown) =>
        err instanceof BulwarkError && err.code === 'BAD_REQUEST' && err.message === `invalid Debian version ${JSON.stringify(version)}: ${problem}`,
    );
  }
  assert.equal(debianVersionProblem('1:9.2p1-2+deb12u5'), undefined);
});

test('compareDebianVersions: tilde, letters, digit runs, epochs and revisions', () => {
  const ordered = [
    '0.9',
    '1.0~~',
    '1.0~~a',
    '1.0~',
    '1.0~rc1',
    '1.0',
    '1.0-0.1',
    '1.0-1~deb12u1',
    '1.0-1',
    '1.0-1+b1',
    '1.0-1+deb12u1',
    '1.0a',
    '1.0+dfsg',
    '1.0.1',
    '1.00000000000000000000000000001',
    '1.10',
    '2:0.1',
  ];
  for (let i = 0; i < ordered.length; i++) {
    for (let j = 0; j < ordered.length; j++) {
      const a = ordered[i] ?? '';
      const b = ordered[j] ?? '';
      assert.equal(sign(compareDebianVersions(a, b)), sign(i - j), `${a} vs ${b}`);
    }
  }
  // Spellings dpkg treats as the same version.
  assert.equal(compareDebianVersions('1.0', '0:1.0-0'), 0);
  assert.equal(compareDebianVersions('1.01', '1.1'), 0);
  // An epoch outweighs everything after it.
  assert.ok(compareDebianVersions('1:1.0', '99.0') > 0);
  assert.throws(() => compareDebianVersions('1.0', 'x'), /invalid Debian version "x": version number does not start with digit/);
});

/** Reads `a < b` / `a = b` lines; blank lines separate groups. */
function readVectors(text: string): { a: string; op: '<' | '='; b: string; line: number }[] {
  const vectors: { a: string; op: '<' | '='; b: string; line: number }[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '') return;
    const m = /^(\S+) ([<=]) (\S+)$/.exec(line);
    assert.ok(m, `line ${index + 1} is not "a < b" or "a = b": ${line}`);
    vectors.push({ a: m[1] ?? '', op: m[2] === '<' ? '<' : '=', b: m[3] ?? '', line: index + 1 });
  });
  return vectors;
}

for (const [file, expectedCount] of [
  ['extras/debian-versions.txt', 30],
  ['extras/debian-versions-generated.txt', 14442],
] as const) {
  test(`compareDebianVersions agrees with every vector of real-world ${file}`, async (t) => {
    const text = await readRealworld(t, file);
    if (text === undefined) return;
    const vectors = readVectors(text);
    assert.equal(vectors.length, expectedCount);
    for (const { a, op, b, line } of vectors) {
      const want = op === '<' ? -1 : 0;
      assert.equal(sign(compareDebianVersions(a, b)), want, `line ${line}: ${a} ${op} ${b}`);
      assert.equal(sign(compareDebianVersions(b, a)), want === 0 ? 0 : 1, `line ${line} reversed: ${b} vs ${a}`);
    }
  });
}

// --- Property test against the real dpkg -------------------------------------------

/** A small seeded generator (mulberry32), so a failing run can be repeated from its seed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

interface Pieces {
  epoch: string;
  upstream: string[];
  revision: string;
}

const EPOCHS = ['', '', '', '', '0:', '1:', '2:', '10:'];
const NUMBERS = ['0', '1', '2', '3', '9', '10', '12', '36', '007', '20230311'];
const SUFFIXES = ['', '', '', 'a', 'b', 'p1', '~rc1', '~rc2', '~beta2', '~', '+dfsg', '+dfsg1', '+git20200101', '+really1.2', '.0a', '+ds', '-20221030'];
const REVISIONS = ['', '-1', '-0', '-2', '-10', '-1.1', '-1ubuntu1', '-1+deb12u1', '-1+deb12u2', '-1~deb12u1', '-0+deb9u4', '-3+b1', '-1+deb12u1+b1', '-1~bpo11+1', '-2.2+wheezy3'];

function pick<T>(random: () => number, list: readonly T[]): T {
  const value = list[Math.floor(random() * list.length)];
  if (value === undefined) throw new Error('empty list');
  return value;
}

function randomPieces(random: () => number): Pieces {
  const upstream = [pick(random, NUMBERS)];
  const parts = Math.floor(random() * 4);
  for (let i = 0; i < parts; i++) upstream.push(`.${pick(random, NUMBERS)}`);
  upstream.push(pick(random, SUFFIXES));
  return { epoch: pick(random, EPOCHS), upstream, revision: pick(random, REVISIONS) };
}

function render(p: Pieces): string {
  const upstream = p.upstream.join('');
  // An upstream hyphen is only allowed when a revision follows (dpkg splits at the last one).
  const revision = p.revision === '' && upstream.includes('-') ? '-1' : p.revision;
  return `${p.epoch}${upstream}${revision}`;
}

/** A near neighbour: one piece changed, so pairs share prefixes, where ordering is subtle. */
function mutate(random: () => number, p: Pieces): Pieces {
  const next: Pieces = { epoch: p.epoch, upstream: [...p.upstream], revision: p.revision };
  const at = Math.floor(random() * next.upstream.length);
  switch (Math.floor(random() * 6)) {
    case 0:
      next.epoch = pick(random, EPOCHS);
      break;
    case 1:
      next.revision = pick(random, REVISIONS);
      break;
    case 2:
      next.upstream[next.upstream.length - 1] = pick(random, SUFFIXES);
      break;
    case 3:
      next.upstream[at] = at === 0 ? pick(random, NUMBERS) : `.${pick(random, NUMBERS)}`;
      break;
    case 4:
      // Same value, other spelling: leading zeros, an explicit 0 epoch or revision.
      if (next.epoch === '') next.epoch = '0:';
      else if (next.revision === '') next.revision = '-0';
      else next.upstream[0] = `0${next.upstream[0] ?? '1'}`;
      break;
    default:
      next.upstream.splice(next.upstream.length - 1, 0, `.${pick(random, NUMBERS)}`);
  }
  return next;
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

const DPKG_OPERATOR = { '<': 'lt', '=': 'eq', '>': 'gt' } as const;
type Relation = keyof typeof DPKG_OPERATOR;

/**
 * Asks dpkg whether each claimed relation holds: one `sh` reading a script of
 * many comparisons from stdin, one `yes`/`no` line per claim. The three
 * relations exclude each other, so dpkg confirming the one we computed
 * checks the full three-way answer with a single dpkg start per pair.
 */
function dpkgConfirms(claims: readonly { a: string; b: string; relation: Relation }[]): Promise<string[]> {
  const script = claims
    .map(({ a, b, relation }) => `if dpkg --compare-versions -- ${shellQuote(a)} ${DPKG_OPERATOR[relation]} ${shellQuote(b)}; then echo yes; else echo no; fi`)
    .join('\n');
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-s'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0 || err !== '') reject(new Error(`dpkg batch failed (exit ${code}): ${err}`));
      else resolve(out.trim().split('\n'));
    });
    child.stdin.end(`${script}\n`);
  });
}

const RELATIONS: readonly Relation[] = ['<', '=', '>'];
const PROPERTY_PAIRS = 2000;

test(`compareDebianVersions agrees with dpkg --compare-versions on ${PROPERTY_PAIRS} generated pairs`, async (t) => {
  const probe = spawnSync('dpkg', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    t.skip(`dpkg is not on PATH (${probe.error?.message ?? `exit ${probe.status}`}), so there is nothing to compare against`);
    return;
  }
  const seed = Number(process.env.BULWARK_VERSION_SEED ?? randomInt(2 ** 31));
  t.diagnostic(`seed ${seed} (repeat with BULWARK_VERSION_SEED=${seed})`);
  const random = seededRandom(seed);
  const pairs: [string, string][] = [];
  for (let i = 0; i < PROPERTY_PAIRS; i++) {
    const a = randomPieces(random);
    const b = random() < 0.35 ? randomPieces(random) : mutate(random, a);
    const [x, y] = [render(a), render(b)];
    assert.equal(debianVersionProblem(x), undefined, x);
    assert.equal(debianVersionProblem(y), undefined, y);
    pairs.push([x, y]);
  }
  const claims = pairs.map(([a, b]) => ({ a, b, relation: RELATIONS[sign(compareDebianVersions(a, b)) + 1] ?? '=' }));
  const started = performance.now();
  // A few shells at once: each dpkg start costs several milliseconds.
  const shells = Math.max(1, Math.min(4, availableParallelism()));
  const size = Math.ceil(claims.length / shells);
  const chunks = Array.from({ length: shells }, (_, i) => claims.slice(i * size, (i + 1) * size));
  const answers = (await Promise.all(chunks.map(dpkgConfirms))).flat();
  t.diagnostic(`${claims.length} pairs checked by dpkg in ${Math.round(performance.now() - started)} ms`);
  assert.equal(answers.length, claims.length);
  const counts = { '<': 0, '=': 0, '>': 0 };
  claims.forEach(({ a, b, relation }, i) => {
    assert.equal(answers[i], 'yes', `seed ${seed}: we say ${a} ${relation} ${b}, dpkg --compare-versions ${DPKG_OPERATOR[relation]} disagrees`);
    counts[relation]++;
  });
  t.diagnostic(`relations: ${counts['<']} <, ${counts['=']} =, ${counts['>']} >`);
  // The generator must exercise all three answers, equal spellings included.
  assert.ok(counts['<'] > 0 && counts['='] > 0 && counts['>'] > 0);
});
