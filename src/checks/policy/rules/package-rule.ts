import { z } from 'zod';
import { type DpkgPackage, parseDpkgStatus } from '../../../host/dpkg-status.js';
import { compareDebianVersions, debianVersionProblem } from '../../vuln/debian-version.js';
import { memoize } from './context-memo.js';
import { readText } from './read-text.js';
import { type RuleContext, type RuleOutcome, defineRule } from './types.js';

const DPKG_STATUS = '/var/lib/dpkg/status';

export const PackageRuleSchema = z
  .strictObject({
    /** A binary package name, optionally with its architecture (`libc6:amd64`). */
    package: z.string().regex(/^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$/, 'must be a Debian package name'),
    installed: z.boolean(),
    /** The lowest acceptable version (dpkg ordering); needs installed: true. */
    version_min: z
      .string()
      .superRefine((version, ctx) => {
        const problem = debianVersionProblem(version);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `not a Debian version: ${problem}` });
      })
      .optional(),
  })
  .refine((r) => r.version_min === undefined || r.installed, { message: 'version_min needs installed: true' });
export type PackageRule = z.infer<typeof PackageRuleSchema>;

type Database = { packages: DpkgPackage[] } | { missing: string };

function database(ctx: RuleContext): Promise<Database> {
  return memoize(ctx, 'dpkg-status', async () => {
    const read = await readText(ctx, DPKG_STATUS);
    if (read.kind === 'text') return { packages: parseDpkgStatus(read.text) };
    return { missing: read.kind === 'error' ? read.reason : `no dpkg database (${DPKG_STATUS} does not exist)` };
  });
}

function find(packages: DpkgPackage[], wanted: string): DpkgPackage | undefined {
  const [name, arch] = wanted.split(':');
  return packages.find((p) => p.name === name && (arch === undefined || p.architecture === arch));
}

/** Whether a dpkg package is installed, and at least at some version. */
export const PACKAGE_RULE = defineRule<PackageRule>({
  key: 'package',
  schema: PackageRuleSchema,
  async evaluate(rule, ctx): Promise<RuleOutcome> {
    const db = await database(ctx);
    if ('missing' in db) return { result: 'not_applicable', evidence: db.missing };
    const pkg = find(db.packages, rule.package);
    if (pkg === undefined) return { result: !rule.installed, evidence: `${rule.package} is not installed` };
    const evidence = `${rule.package} ${pkg.version} is installed`;
    if (!rule.installed) return { result: false, evidence };
    if (rule.version_min !== undefined && compareDebianVersions(pkg.version, rule.version_min) < 0) {
      return { result: false, evidence: `${evidence} (older than ${rule.version_min})` };
    }
    return { result: true, evidence };
  },
});
