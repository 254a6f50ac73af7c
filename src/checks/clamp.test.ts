import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FindingSchema } from '../protocol/checks.js';
import { clampFinding } from './clamp.js';
import type { Finding } from './model.js';

test('a finding past every limit is brought within the wire schema', () => {
  const huge: Finding = {
    kind: 'vulnerability',
    key: `vulnerability:${'D'.repeat(600)}/linux-image`,
    ruleId: 'DSA-1-1',
    source: 'osv',
    title: 'T'.repeat(2000),
    severity: 'high',
    status: 'fail',
    evidence: 'e'.repeat(5000),
    references: Array.from({ length: 120 }, (_, i) => `https://example.com/CVE-${i}`),
    details: { aliases: Array.from({ length: 120 }, (_, i) => `CVE-2024-${i}`), fixed: 'none', count: 3 },
  };
  assert.equal(FindingSchema.safeParse(huge).success, false);
  const clamped = clampFinding(huge);
  assert.equal(FindingSchema.safeParse(clamped).success, true);
  assert.equal(clamped.references?.length, 32);
  assert.equal((clamped.details?.aliases as string[]).length, 64);
  assert.equal(clamped.details?.count, 3);
  assert.ok(clamped.title.endsWith('…'));
});

test('a finding within the limits is unchanged', () => {
  const small: Finding = { kind: 'check', key: 'check:p/a', ruleId: 'a', source: 'p', title: 't', severity: 'low', status: 'pass', evidence: 'x = 1', compliance: { cis: ['1.1'] } };
  assert.deepEqual(clampFinding(small), small);
});
