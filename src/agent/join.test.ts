import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinableHostname } from './join.js';
import { HOSTNAME_PATTERN } from '../protocol/agent.js';

test('host names the server would refuse are made joinable, and stay valid', () => {
  const cases: [string, string][] = [
    ['vm', 'vm'],
    ['web_01.Example.com', 'web-01.example.com'],
    ['__', 'node'],
    ['a..b-', 'a.b'],
    ['-lead.trail-', 'lead.trail'],
    [`${'x'.repeat(80)}.example`, `${'x'.repeat(63)}.example`],
  ];
  for (const [input, expected] of cases) assert.equal(joinableHostname(input), expected, input);
  const long = Array.from({ length: 40 }, (_, i) => `label${i}`).join('.');
  for (const input of [...cases.map(([i]) => i), long, 'ünïcode_host', '...', 'a'.repeat(300)]) {
    assert.match(joinableHostname(input), HOSTNAME_PATTERN, input);
  }
});
