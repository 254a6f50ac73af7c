import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseXml, textContent } from './test-xml.js';

// The writers' tests lean on this parser to call output well-formed, so it must refuse what XML refuses.
test('test XML parser: accepts well-formed documents and decodes text and attributes', () => {
  const root = parseXml('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE r>\n<r a="1 &amp; &lt;2&gt; &#10;&#x41;" b=\'q\'><!-- c --><x/>t &quot;&apos;</r>\n');
  assert.deepEqual(root.attributes, { a: '1 & <2> \nA', b: 'q' });
  assert.equal(textContent(root), 't "\'');
});

test('test XML parser: refuses what XML 1.0 does not allow', () => {
  const bad = [
    '<r>a & b</r>',
    '<r>&nbsp;</r>',
    '<r>&#0;</r>',
    '<r>&#xD800;</r>',
    '<r><x></r></x>',
    '<r a="1" a="2"/>',
    '<r a=1/>',
    '<r a="<"/>',
    '<r>a]]>b</r>',
    '<r>\u0001</r>',
    '<r>\uFFFE</r>',
    '<r>\uD800</r>',
    '<r/><s/>',
    '<r>',
    '<r a="1"b="2"/>',
    '<!-- a -- b --><r/>',
  ];
  for (const xml of bad) assert.throws(() => parseXml(xml), Error, JSON.stringify(xml));
});
