import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { listItems } from './evidence-list.js';
import { walkHostTree } from './host-tree-walk.js';
import { defineRule } from './types.js';
import type { RuleContext, RuleOutcome } from './types.js';

const hostPath = z.string().regex(/^\//, 'must be an absolute path');

export const CertificatesRuleSchema = z.strictObject({
  certificates: z
    .strictObject({
      /** Directories searched (a few levels deep) for `*.pem` and `*.crt` files. */
      under: z.array(hostPath).optional(),
      /** Files read whatever their name. */
      files: z.array(hostPath).optional(),
    })
    .refine((c) => (c.under?.length ?? 0) + (c.files?.length ?? 0) > 0, 'name at least one directory or file'),
  min_days_left: z.number().int().nonnegative(),
});
export type CertificatesRule = z.infer<typeof CertificatesRuleSchema>;

const DAY_MS = 86_400_000;
const CERT_FILE = /\.(pem|crt)$/;
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
/** Certificate directories are shallow; the bounds keep a mistaken `under: [/]` from walking the disk. */
const SEARCH_DEPTH = 4;
const SEARCH_ENTRIES = 10_000;

interface Seen {
  file: string;
  subject: string;
  notAfter: number;
}

async function certificateFiles(ctx: RuleContext, rule: CertificatesRule): Promise<string[]> {
  const files = [...(rule.certificates.files ?? [])];
  // Symlinks count too (Let's Encrypt's live/ links to archive/); they are read through, never walked into.
  await walkHostTree(ctx, rule.certificates.under ?? [], { maxDepth: SEARCH_DEPTH, maxEntries: SEARCH_ENTRIES }, (entry) => {
    if ((entry.stats.isFile() || entry.stats.isSymbolicLink()) && CERT_FILE.test(entry.path)) files.push(entry.path);
  });
  return [...new Set(files)];
}

function describe(cert: Seen, now: number): string {
  const days = Math.floor((cert.notAfter - now) / DAY_MS);
  const when = days < 0 ? `expired ${new Date(cert.notAfter).toISOString()}` : `expires ${new Date(cert.notAfter).toISOString()} (${days} days left)`;
  return `${cert.file}: ${cert.subject} ${when}`;
}

/**
 * The `certificates` rule: every PEM certificate in the named files and
 * directories must stay valid for at least `min_days_left` days after the audit's
 * clock. A certificate that does not parse fails too: a broken file in a TLS
 * directory is a service that will not start.
 */
export const CERTIFICATES_RULE = defineRule({
  key: 'certificates',
  schema: CertificatesRuleSchema,
  async evaluate(rule, ctx): Promise<RuleOutcome> {
    const certs: Seen[] = [];
    const problems: string[] = [];
    const fingerprints = new Set<string>();
    for (const file of await certificateFiles(ctx, rule)) {
      const text = await ctx.readFile(file);
      for (const block of text?.match(PEM_BLOCK) ?? []) {
        let cert: X509Certificate;
        try {
          cert = new X509Certificate(block);
        } catch {
          problems.push(`${file}: not a valid certificate`);
          continue;
        }
        // The same certificate reached twice (a link and its target) is reported once.
        if (fingerprints.has(cert.fingerprint256)) continue;
        fingerprints.add(cert.fingerprint256);
        certs.push({ file, subject: cert.subject.split('\n').join(', '), notAfter: Date.parse(cert.validTo) });
      }
    }
    const where = [...(rule.certificates.under ?? []), ...(rule.certificates.files ?? [])].join(', ');
    if (certs.length === 0 && problems.length === 0) return { result: 'not_applicable', evidence: `no certificate in ${where}` };
    const deadline = ctx.now + rule.min_days_left * DAY_MS;
    certs.sort((a, b) => a.notAfter - b.notAfter);
    const failing = [...problems, ...certs.filter((c) => c.notAfter < deadline).map((c) => describe(c, ctx.now))];
    if (failing.length > 0) return { result: false, evidence: `${failing.length} of ${certs.length + problems.length} certificates: ${listItems(failing)}` };
    const [soonest] = certs;
    return { result: true, evidence: `${certs.length} certificates, the soonest ${soonest === undefined ? '' : describe(soonest, ctx.now)}` };
  },
});
