import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clampText, escapeMarkupAttribute, escapeMarkupText, markupAttributes, markupSafe, wellFormed } from './text.js';
import { httpUrl } from './url.js';

test('clampText: cuts with a mark and never leaves half a surrogate pair', () => {
  assert.equal(clampText('short', 10), 'short');
  assert.equal(clampText('abcdef', 4), 'abc…');
  assert.equal(clampText('ab😀cd', 4), 'ab\uFFFD…', 'the cut through 😀 leaves a replacement, not a lone surrogate');
  assert.equal(wellFormed('a\uDC00b\uD83D\uDE00'), 'a\uFFFDb😀');
});

test('markup escaping: no markup, no character XML forbids, whitespace kept in attributes', () => {
  assert.equal(markupSafe('a\u0000b\u0008\t\n\r\u007F\u0085\uFFFE\uFFFF😀\uD800'), 'a\uFFFDb\uFFFD\t\n\r\uFFFD\uFFFD\uFFFD\uFFFD😀\uFFFD');
  assert.equal(escapeMarkupText('<a href="x">&]]></a>'), '&lt;a href="x"&gt;&amp;]]&gt;&lt;/a&gt;');
  assert.equal(escapeMarkupAttribute(`"'<>&\t\n\r`), '&quot;&#39;&lt;&gt;&amp;&#9;&#10;&#13;');
  assert.equal(markupAttributes({ a: 'x"y', b: undefined, c: 3 }), ' a="x&quot;y" c="3"');
});

test('httpUrl: only http and https, as a browser would parse them', () => {
  assert.equal(httpUrl('https://example.org/a b'), 'https://example.org/a%20b');
  assert.equal(httpUrl('HTTP://Example.org'), 'http://example.org/');
  for (const bad of ['javascript:alert(1)', ' JavaScript:alert(1)', 'java\tscript:alert(1)', 'data:text/html,x', 'file:///etc/passwd', '//evil.example/', 'not a url', 'ftp://x/']) {
    assert.equal(httpUrl(bad), undefined, JSON.stringify(bad));
  }
});
