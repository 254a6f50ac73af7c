import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cvss3BaseScore, severityFromScore, severityFromUrgency, worseSeverity } from './severity.js';

test('cvss3BaseScore gives the published base scores', () => {
  // Scores as NVD and the FIRST calculator publish them for these vectors.
  const cases: [string, number][] = [
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 9.8],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H', 10],
    ['CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H', 7.8],
    ['CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N', 5.9],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N', 6.1],
    ['CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N', 6.4],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H', 7.5],
    ['CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:H', 5.5],
    ['CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:N', 5.4],
    ['CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 9.8],
    // Temporal metrics do not change the base score; metric order does not matter.
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C', 9.8],
    ['CVSS:3.1/S:U/C:H/I:H/A:H/AV:N/AC:L/PR:N/UI:N', 9.8],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N', 0],
  ];
  for (const [vector, score] of cases) assert.equal(cvss3BaseScore(vector), score, vector);
});

test('cvss3BaseScore declines what it cannot score reliably', () => {
  for (const vector of [
    'AV:N/AC:L/Au:N/C:P/I:P/A:P', // CVSS v2
    'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N',
    'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H', // no A
    'CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
    'CVSS:3.1/AV:N/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
    '',
  ]) {
    assert.equal(cvss3BaseScore(vector), undefined, vector);
  }
});

test('severityFromScore uses the CVSS qualitative bands', () => {
  assert.deepEqual([0, 0.1, 3.9, 4, 6.9, 7, 8.9, 9, 10].map(severityFromScore), ['info', 'low', 'low', 'medium', 'medium', 'high', 'high', 'critical', 'critical']);
});

test('severityFromUrgency maps Debian urgencies, NVD-derived ones (**) included', () => {
  assert.equal(severityFromUrgency('high'), 'high');
  assert.equal(severityFromUrgency('high**'), 'high');
  assert.equal(severityFromUrgency('medium'), 'medium');
  assert.equal(severityFromUrgency('low**'), 'low');
  assert.equal(severityFromUrgency('unimportant'), 'info');
  assert.equal(severityFromUrgency('not yet assigned'), undefined);
  assert.equal(severityFromUrgency('end-of-life'), undefined);
  assert.equal(worseSeverity('low', 'high'), 'high');
  assert.equal(worseSeverity('critical', 'info'), 'critical');
});
