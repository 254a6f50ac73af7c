import { summarize, type Finding, type FleetReport, type NodeAuditResult } from '../model.js';

/**
 * Test fixtures for the report writers: a small honest fleet and a hostile one.
 *
 * The sample fleet: `web-1` (listed first, sorts last) and `db-1`, with checks,
 * vulnerabilities and TLS findings in every status. Expected totals:
 * db-1 2 passed, 2 failed, 1 n/a, score 50; web-1 1 passed, 3 failed, 1 n/a, score 25;
 * fleet score 37.5, failed 5 (critical 1, high 2, medium 1, low 1), passed 3, n/a 2.
 */
const T0 = Date.UTC(2024, 4, 1, 10, 0, 0);

const sshRootLogin = (status: Finding['status'], evidence: string): Finding => ({
  kind: 'check',
  key: 'check:cis-debian12/5.2.10',
  ruleId: '5.2.10',
  source: 'cis-debian12',
  title: 'Ensure SSH root login is disabled',
  severity: 'high',
  status,
  evidence,
  rationale: 'Root logins cannot be traced to a person.',
  remediation: 'Set PermitRootLogin no in /etc/ssh/sshd_config.',
  references: ['https://www.cisecurity.org/benchmark/debian_linux', 'CIS Debian Linux 12 Benchmark v1.0.0'],
  compliance: { cis: ['5.2.10'], 'nist-800-53': ['AC-6(2)'] },
  location: '/etc/ssh/sshd_config',
});

const webFindings: Finding[] = [
  {
    kind: 'tls',
    key: 'tls:web-1:443/tls-weak-protocol',
    ruleId: 'tls-weak-protocol',
    source: 'tls',
    title: 'TLS 1.1 is accepted',
    severity: 'medium',
    status: 'fail',
    evidence: 'handshake with TLSv1.1 succeeded',
    location: 'web-1:443',
    details: { protocol: 'TLSv1.1' },
  },
  sshRootLogin('fail', 'PermitRootLogin yes'),
  {
    kind: 'check',
    key: 'check:cis-debian12/1.1.1.1',
    ruleId: '1.1.1.1',
    source: 'cis-debian12',
    title: 'Ensure cramfs kernel module is not available',
    severity: 'low',
    status: 'not_applicable',
    evidence: 'module not built',
  },
  {
    kind: 'vulnerability',
    key: 'vulnerability:CVE-2024-6387/openssh-server',
    ruleId: 'CVE-2024-6387',
    source: 'debian-security-tracker',
    title: 'openssh-server: regreSSHion, remote code execution',
    severity: 'critical',
    status: 'fail',
    evidence: 'installed 1:9.2p1-2, fixed in 1:9.2p1-2+deb12u3',
    references: ['https://security-tracker.debian.org/tracker/CVE-2024-6387'],
    location: 'openssh-server',
    details: { installed: '1:9.2p1-2', fixed: '1:9.2p1-2+deb12u3' },
  },
  {
    kind: 'check',
    key: 'check:cis-debian12/5.2.4',
    ruleId: '5.2.4',
    source: 'cis-debian12',
    title: 'Ensure SSH access is limited',
    severity: 'medium',
    status: 'pass',
    evidence: 'AllowGroups ssh-users',
  },
];

const dbFindings: Finding[] = [
  sshRootLogin('fail', 'PermitRootLogin prohibit-password'),
  {
    kind: 'check',
    key: 'check:cis-debian12/5.2.4',
    ruleId: '5.2.4',
    source: 'cis-debian12',
    title: 'Ensure SSH access is limited',
    severity: 'medium',
    status: 'pass',
    evidence: 'AllowGroups dba',
  },
  {
    kind: 'vulnerability',
    key: 'vulnerability:CVE-2023-0001/libfoo1',
    ruleId: 'CVE-2023-0001',
    source: 'debian-security-tracker',
    title: 'libfoo1: information disclosure',
    severity: 'low',
    status: 'fail',
    evidence: 'installed 1.0-1, fixed in 1.0-2',
    location: 'libfoo1',
  },
  {
    kind: 'tls',
    key: 'tls:db-1:5432/tls-weak-protocol',
    ruleId: 'tls-weak-protocol',
    source: 'tls',
    title: 'Only TLS 1.2 and later are accepted',
    severity: 'info',
    status: 'pass',
    evidence: 'TLSv1.3',
    location: 'db-1:5432',
  },
  {
    kind: 'check',
    key: 'check:cis-debian12/1.1.1.1',
    ruleId: '1.1.1.1',
    source: 'cis-debian12',
    title: 'Ensure cramfs kernel module is not available',
    severity: 'low',
    status: 'not_applicable',
    evidence: 'module not built',
  },
];

function node(nodeId: string, nodeName: string, labels: Record<string, string>, findings: Finding[], startOffsetMs: number): NodeAuditResult {
  return {
    nodeId,
    nodeName,
    labels,
    runId: `run-${nodeName}`,
    startedAt: T0 + startOffsetMs,
    finishedAt: T0 + startOffsetMs + 12_500,
    summary: summarize(findings),
    findings,
    errors: [],
  };
}

export function sampleFleet(): FleetReport {
  const web = node('n-web-1', 'web-1', { role: 'web', env: 'prod' }, webFindings, 0);
  web.errors = [{ source: 'custom-hardening', message: 'policy could not be parsed: line 3' }];
  // A node does not get to state its own score: this one claims a perfect run.
  web.summary = { passed: 5, failed: 0, notApplicable: 0, score: 100, failedBySeverity: { critical: 0, high: 0, medium: 0, low: 0, info: 0 } };
  const db = node('n-db-1', 'db-1', { env: 'prod', role: 'db' }, dbFindings, 1_000);
  return { title: 'Fleet audit: prod', generatedAt: T0 + 60_000, nodes: [web, db] };
}

/** The same fleet with nodes, findings, errors and label keys in reverse order. */
export function shuffledSampleFleet(): FleetReport {
  const fleet = sampleFleet();
  fleet.nodes = fleet.nodes.reverse().map((n) => ({
    ...n,
    labels: Object.fromEntries(Object.entries(n.labels).reverse()),
    findings: [...n.findings].reverse(),
    errors: [...n.errors].reverse(),
  }));
  return fleet;
}

export const MEGABYTE = 1024 * 1024;

/** Strings a compromised agent might send, one in every field a writer prints. */
export const HOSTILE = {
  script: '<script>alert(1)</script>',
  attribute: '"><img src=x onerror=alert(1)>',
  cdataEnd: 'a]]>b',
  nul: 'nul\u0000here',
  bidi: 'invoice\u202Egpj.exe',
  loneSurrogate: 'half \uD800 pair',
  nonCharacters: 'x\uFFFE\uFFFFy',
  big: 'A'.repeat(MEGABYTE),
} as const;

export function hostileFleet(): FleetReport {
  const all = Object.values(HOSTILE).filter((s) => s !== HOSTILE.big).join(' | ');
  const findings: Finding[] = [
    {
      kind: 'check',
      key: `check:${all}`,
      ruleId: `${HOSTILE.script}-rule`,
      source: `${HOSTILE.attribute}&amp;`,
      title: `${HOSTILE.script} ${HOSTILE.big}`,
      severity: 'critical',
      status: 'fail',
      evidence: `${all} ${HOSTILE.big}`,
      rationale: HOSTILE.big,
      remediation: `${all}`,
      references: [
        'javascript:alert(1)',
        ' JAVASCRIPT:alert(2)',
        'java\nscript:alert(3)',
        'data:text/html,<script>alert(4)</script>',
        'vbscript:msgbox(5)',
        'https://ok.example/a"b<c>\u202E',
        `https://${HOSTILE.big}`,
      ],
      compliance: { [HOSTILE.script]: [HOSTILE.attribute] },
      location: `/../../etc/${HOSTILE.attribute}/${HOSTILE.loneSurrogate}/..`,
      details: { [HOSTILE.attribute]: HOSTILE.script, list: [HOSTILE.cdataEnd, HOSTILE.nul], big: HOSTILE.big },
    },
    {
      kind: 'vulnerability',
      key: `vulnerability:${HOSTILE.bidi}`,
      ruleId: HOSTILE.bidi,
      source: HOSTILE.nonCharacters,
      title: HOSTILE.cdataEnd,
      severity: 'high',
      status: 'not_applicable',
      evidence: HOSTILE.nul,
    },
    {
      kind: 'tls',
      key: `tls:${HOSTILE.loneSurrogate}`,
      ruleId: HOSTILE.loneSurrogate,
      source: 'tls',
      title: HOSTILE.attribute,
      severity: 'low',
      status: 'pass',
      evidence: HOSTILE.loneSurrogate,
    },
  ];
  return {
    title: `Audit ${HOSTILE.script}`,
    generatedAt: T0,
    nodes: [
      {
        nodeId: `id-${HOSTILE.attribute}`,
        nodeName: `${HOSTILE.script}${HOSTILE.bidi}`,
        labels: { [HOSTILE.attribute]: HOSTILE.script },
        runId: HOSTILE.nul,
        // A time Date cannot hold: toISOString would throw.
        startedAt: 1e300,
        finishedAt: Number.NaN,
        summary: summarize(findings),
        findings,
        errors: [{ source: HOSTILE.script, message: `${all} ${HOSTILE.big}` }],
      },
    ],
  };
}
