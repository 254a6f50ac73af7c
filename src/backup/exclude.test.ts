import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileExcludes } from './exclude.js';

describe('exclude patterns', () => {
  it('matches names at any depth when the pattern has no slash', () => {
    const m = compileExcludes(['*.log', 'node_modules']);
    assert.equal(m('/srv/app/a.log', 'a.log'), true);
    assert.equal(m('/srv/app/node_modules', 'node_modules'), true);
    assert.equal(m('/srv/app/a.log.gz', 'a.log.gz'), false);
    assert.equal(m('/srv/node_modules_x', 'node_modules_x'), false);
  });

  it('anchors patterns with a slash to the whole path, with ** across directories', () => {
    const m = compileExcludes(['/var/cache/**', '/home/*/tmp', '**/.git/']);
    assert.equal(m('/var/cache/apt/x', 'x'), true);
    assert.equal(m('/var/cache2/x', 'x'), false);
    assert.equal(m('/home/ann/tmp', 'tmp'), true);
    assert.equal(m('/home/ann/deep/tmp', 'tmp'), false);
    assert.equal(m('/src/p/.git', '.git'), true);
  });

  it('supports ? and character sets, and refuses broken or empty patterns', () => {
    const m = compileExcludes(['file?.[ch]', 'x[!0-9]']);
    assert.equal(m('/a/file1.c', 'file1.c'), true);
    assert.equal(m('/a/file12.c', 'file12.c'), false);
    assert.equal(m('/a/xa', 'xa'), true);
    assert.equal(m('/a/x1', 'x1'), false);
    assert.throws(() => compileExcludes(['a[b']), { code: 'BAD_REQUEST' });
    assert.throws(() => compileExcludes([' ']), { code: 'BAD_REQUEST' });
  });

  it('treats regular-expression characters literally', () => {
    const m = compileExcludes(['a+b(1).txt']);
    assert.equal(m('/x/a+b(1).txt', 'a+b(1).txt'), true);
    assert.equal(m('/x/aab1.txt', 'aab1.txt'), false);
  });
});
