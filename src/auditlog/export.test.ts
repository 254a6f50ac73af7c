import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chainNext } from './chain.js';
import type { AuditEntry } from './entry.js';
import { cefHeader, cefValue, toCef, toJsonLine } from './export.js';

const entry = (over: Partial<AuditEntry> = {}): AuditEntry => ({
  ...chainNext(undefined, {
    time: 1_700_000_000_000,
    actor: 'user:alice',
    action: 'nodes.delete',
    resource: 'nodes/db-1',
    decision: 'allow',
    source: '10.0.0.5',
    requestId: 'req-1',
    outcome: 'success',
    details: { reason: 'decommissioned' },
  }),
  ...over,
});

describe('export', () => {
  it('writes one JSON object a line with the hashes', () => {
    const e = entry();
    const line = toJsonLine(e);
    assert.ok(!line.includes('\n'));
    assert.deepEqual(JSON.parse(line), e);
    assert.deepEqual(Object.keys(JSON.parse(line) as object), ['seq', 'time', 'actor', 'action', 'resource', 'decision', 'source', 'requestId', 'outcome', 'details', 'prevHash', 'hash']);
  });

  it('escapes CEF header fields: backslash and pipe; line breaks become spaces', () => {
    assert.equal(cefHeader('a|b\\c'), 'a\\|b\\\\c');
    assert.equal(cefHeader('a\r\nb\nc'), 'a b c');
    assert.equal(cefHeader('x=y'), 'x=y');
  });

  it('escapes CEF extension values: backslash, equals and line breaks; pipes stay', () => {
    assert.equal(cefValue('a=b\\c|d'), 'a\\=b\\\\c|d');
    assert.equal(cefValue('line1\nline2\r\nline3\r'), 'line1\\nline2\\nline3\\r');
  });

  it('writes a CEF line with the standard keys and a higher severity for denials', () => {
    const e = entry();
    const line = toCef(e, '0.1.0');
    assert.ok(line.startsWith('CEF:0|Bulwark|Bulwark|0.1.0|nodes.delete|nodes.delete allow|3|'), line);
    assert.match(line, / suser=user:alice /);
    assert.match(line, /\brt=1700000000000 /);
    assert.match(line, / src=10\.0\.0\.5 /);
    assert.match(line, / act=nodes.delete /);
    assert.match(line, / outcome=success /);
    assert.match(line, / cs1Label=resource cs1=nodes\/db-1 /);
    assert.match(line, /externalId=1 /);
    assert.ok(line.includes(`cs6=${e.hash}`));
    const denied = toCef(entry({ decision: 'deny', outcome: 'failure' }), '0.1.0');
    assert.equal(denied.split('|')[6], '8');
    assert.equal(toCef(entry({ outcome: 'error' }), '0.1.0').split('|')[6], '6');
  });

  it('escapes hostile values so they cannot forge header fields or extension keys', () => {
    const e = entry({ action: 'evil|9|x', actor: 'mallory suser=admin', source: 'agent:db-1', details: { note: 'a=b\nCEF:0|fake' } });
    const line = toCef(e, '0.1.0');
    assert.ok(!line.includes('\n'));
    assert.ok(line.startsWith('CEF:0|Bulwark|Bulwark|0.1.0|evil\\|9\\|x|evil\\|9\\|x allow|3|'), line);
    assert.match(line, / suser=mallory suser\\=admin /);
    assert.ok(!/ src=/.test(line), 'a source that is not an IP address is not put in src');
    assert.match(line, /cs5=agent:db-1/);
    assert.match(line, /cs4=\{"note":"a\\=b\\\\nCEF:0\|fake"\}/);
  });
});
