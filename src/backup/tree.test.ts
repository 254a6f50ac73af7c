import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeTree, encodeTree, isSafeName, type TreeNode } from './tree.js';

const ID_A = 'a'.repeat(64);
const ID_B = '0123456789abcdef'.repeat(4);

function file(name: string, extra: Partial<TreeNode> = {}): TreeNode {
  return { name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: '1764064800123456789', size: 3, content: [ID_A], ...extra };
}

/** A tree blob whose single entry is `node` (written as given, not through encodeTree). */
function oneEntry(node: unknown): Buffer {
  return Buffer.from(JSON.stringify({ v: 1, nodes: [node] }));
}

const damaged = { code: 'REPOSITORY_DAMAGED' };

describe('encodeTree', () => {
  it('sorts entries by name and does not change the input', () => {
    const nodes = [file('zeta'), file('Alpha'), file('beta'), file('alpha')];
    const encoded = encodeTree({ nodes });
    const body = JSON.parse(encoded.toString('utf8')) as { v: number; nodes: TreeNode[] };
    assert.equal(body.v, 1);
    assert.deepEqual(
      body.nodes.map((n) => n.name),
      ['Alpha', 'alpha', 'beta', 'zeta'],
    );
    assert.deepEqual(
      nodes.map((n) => n.name),
      ['zeta', 'Alpha', 'beta', 'alpha'],
    );
  });

  it('gives the same bytes for the same entries in any order (identical directories dedup)', () => {
    const a = encodeTree({ nodes: [file('x'), file('y'), { name: 'd', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtimeNs: '1', subtree: ID_B }] });
    const b = encodeTree({ nodes: [{ name: 'd', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtimeNs: '1', subtree: ID_B }, file('y'), file('x')] });
    assert.deepEqual(a, b);
  });

  it('round-trips through decodeTree', () => {
    const nodes: TreeNode[] = [
      file('app.conf', { ctimeNs: '1764064800123456790', inode: 1311, device: 2049, links: 1, content: [ID_A, ID_B] }),
      { name: 'current', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtimeNs: '5', target: 'releases/42' },
      { name: 'lib', type: 'dir', mode: 0o755, uid: 1000, gid: 1000, mtimeNs: '-5', subtree: ID_B },
      { name: 'null', type: 'chardev', mode: 0o666, uid: 0, gid: 0, mtimeNs: '0', rdev: 259 },
      { name: 'pipe', type: 'fifo', mode: 0o600, uid: 0, gid: 0, mtimeNs: '0' },
      file('empty', { size: 0, content: [] }),
    ];
    const decoded = decodeTree(encodeTree({ nodes }), ID_A);
    assert.deepEqual(decoded.nodes, [...nodes].sort((x, y) => (x.name < y.name ? -1 : 1)));
  });
});

describe('decodeTree', () => {
  it('refuses non-JSON and JSON that is not a tree, naming the tree', () => {
    const bad = ['not json', '', '{"v":1,"nodes":[', 'null', '[]', '{"v":2,"nodes":[]}', '{"nodes":[]}', '{"v":1,"nodes":{}}', '{"v":"1","nodes":[]}'];
    for (const text of bad) {
      assert.throws(() => decodeTree(Buffer.from(text), ID_B), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'REPOSITORY_DAMAGED', text);
        assert.match(err.message, /tree 0123456789ab/);
        return true;
      });
    }
  });

  it('accepts an empty directory', () => {
    assert.deepEqual(decodeTree(Buffer.from('{"v":1,"nodes":[]}'), ID_A).nodes, []);
  });

  it('refuses duplicate names', () => {
    const bytes = Buffer.from(JSON.stringify({ v: 1, nodes: [file('x'), { name: 'x', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtimeNs: '1', target: '/etc' }] }));
    assert.throws(() => decodeTree(bytes, ID_A), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'REPOSITORY_DAMAGED');
      assert.match(err.message, /"x" appears twice/);
      return true;
    });
  });

  it('refuses unknown types and entries that are not objects or have no name', () => {
    for (const type of ['link', 'directory', 'FILE', '', 7, null]) assert.throws(() => decodeTree(oneEntry({ ...file('x'), type }), ID_A), damaged, String(type));
    for (const entry of [null, 'x', 3, [], { ...file('x'), name: 5 }, { type: 'file' }]) assert.throws(() => decodeTree(oneEntry(entry), ID_A), damaged, JSON.stringify(entry));
  });

  it('refuses malformed metadata', () => {
    const bad: Partial<Record<keyof TreeNode, unknown>>[] = [
      { mode: -1 },
      { mode: 1.5 },
      { mode: '420' },
      { mode: undefined },
      { uid: -1 },
      { uid: 2 ** 53 },
      { gid: null },
      { mtimeNs: 1764064800 },
      { mtimeNs: '1.5' },
      { mtimeNs: '' },
      { mtimeNs: '12e9' },
      { mtimeNs: '1'.repeat(25) },
      { size: -1 },
      { size: '3' },
      { size: undefined },
    ];
    for (const change of bad) assert.throws(() => decodeTree(oneEntry({ ...file('x'), ...change }), ID_A), damaged, JSON.stringify(change));
  });

  it('refuses malformed blob ids: content of files, subtree of directories', () => {
    const badIds = ['A'.repeat(64), 'a'.repeat(63), 'a'.repeat(65), `${'a'.repeat(63)}g`, '', 42, null];
    for (const id of badIds) {
      assert.throws(() => decodeTree(oneEntry(file('x', { content: [ID_A, id as string] })), ID_A), damaged, `content ${String(id)}`);
      assert.throws(() => decodeTree(oneEntry({ name: 'd', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtimeNs: '1', subtree: id }), ID_A), damaged, `subtree ${String(id)}`);
    }
    assert.throws(() => decodeTree(oneEntry({ ...file('x'), content: ID_A }), ID_A), damaged);
    assert.throws(() => decodeTree(oneEntry({ ...file('x'), content: undefined }), ID_A), damaged);
    assert.throws(() => decodeTree(oneEntry({ name: 'd', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtimeNs: '1' }), ID_A), damaged);
  });

  it('refuses a symlink without a target', () => {
    assert.throws(() => decodeTree(oneEntry({ name: 'l', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtimeNs: '1' }), ID_A), damaged);
    assert.throws(() => decodeTree(oneEntry({ name: 'l', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtimeNs: '1', target: 3 }), ID_A), damaged);
  });
});

describe('isSafeName', () => {
  const table: [string, boolean][] = [
    ['', false],
    ['.', false],
    ['..', false],
    ['a/b', false],
    ['/', false],
    ['/etc', false],
    ['../x', false],
    ['a\0b', false],
    ['\0', false],
    ['x'.repeat(4097), false],
    ['…', true],
    ['...', true],
    ['.hidden', true],
    ['..x', true],
    ['a b', true],
    ['a\\b', true],
    ['café', true],
    ['日本語', true],
    ['\u{1f511}', true],
    ['x'.repeat(255), true],
  ];
  for (const [name, safe] of table) {
    it(`${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}…(${name.length})` : name)} is ${safe ? 'safe' : 'refused'}`, () => {
      assert.equal(isSafeName(name), safe);
    });
  }
});
