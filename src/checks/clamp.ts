import { AUDIT_LIMITS } from '../protocol/checks.js';
import { clampEvidence, type Finding } from './model.js';

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * Brings a finding within the wire and API limits of `src/protocol/checks.ts`:
 * a kernel advisory naming 120 CVEs, or a 2,000-character summary, must shorten
 * the finding, not make every answer that includes it fail validation.
 */
export function clampFinding(f: Finding): Finding {
  const out: Finding = {
    ...f,
    key: cut(f.key, 512),
    ruleId: cut(f.ruleId, 256),
    source: cut(f.source, 256),
    title: cut(f.title, 1024),
    evidence: clampEvidence(f.evidence),
  };
  if (f.rationale !== undefined) out.rationale = cut(f.rationale, AUDIT_LIMITS.text);
  if (f.remediation !== undefined) out.remediation = cut(f.remediation, AUDIT_LIMITS.text);
  if (f.location !== undefined) out.location = cut(f.location, 1024);
  if (f.references !== undefined) out.references = f.references.slice(0, 32).map((r) => cut(r, 1024));
  if (f.compliance !== undefined) {
    out.compliance = Object.fromEntries(
      Object.entries(f.compliance)
        .slice(0, 64)
        .map(([k, v]) => [cut(k, 64), v.slice(0, 64).map((x) => cut(x, 64))]),
    );
  }
  if (f.details !== undefined) {
    out.details = Object.fromEntries(
      Object.entries(f.details)
        .slice(0, 64)
        .map(([k, v]) => [cut(k, 64), typeof v === 'string' ? cut(v, AUDIT_LIMITS.text) : Array.isArray(v) ? v.slice(0, 64).map((x) => cut(x, 256)) : v]),
    );
  }
  return out;
}
