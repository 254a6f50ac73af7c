import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderHtmlReport } from './html.js';
import { REPORT_FORMATS, renderReport, reportFileExtension } from './index.js';
import { renderJsonReport } from './json.js';
import { renderJunitReport } from './junit.js';
import { renderSarifReport } from './sarif.js';
import { sampleFleet } from './test-fleet.js';

test('report formats: each renders with its writer and has its file extension', () => {
  assert.deepEqual(REPORT_FORMATS, ['json', 'sarif', 'junit', 'html']);
  const writers = { json: renderJsonReport, sarif: renderSarifReport, junit: renderJunitReport, html: renderHtmlReport };
  for (const format of REPORT_FORMATS) assert.equal(renderReport(format, sampleFleet()), writers[format](sampleFleet()), format);
  assert.deepEqual(REPORT_FORMATS.map(reportFileExtension), ['json', 'sarif', 'xml', 'html']);
});
