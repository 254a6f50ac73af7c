import type { FleetReport } from '../model.js';
import { renderHtmlReport } from './html.js';
import { renderJsonReport } from './json.js';
import { renderJunitReport } from './junit.js';
import { renderSarifReport } from './sarif.js';

/** The report formats, in the order help texts list them. */
export const REPORT_FORMATS = ['json', 'sarif', 'junit', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export function renderReport(format: ReportFormat, report: FleetReport): string {
  switch (format) {
    case 'json':
      return renderJsonReport(report);
    case 'sarif':
      return renderSarifReport(report);
    case 'junit':
      return renderJunitReport(report);
    case 'html':
      return renderHtmlReport(report);
  }
}

const EXTENSIONS: Record<ReportFormat, string> = { json: 'json', sarif: 'sarif', junit: 'xml', html: 'html' };

/** File name extension without the dot: `report.${reportFileExtension(format)}`. */
export function reportFileExtension(format: ReportFormat): string {
  return EXTENSIONS[format];
}
