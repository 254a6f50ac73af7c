import { readlink } from 'node:fs/promises';
import { z } from 'zod';
import { defineRule } from './types.js';
import type { RuleContext, RuleOutcome } from './types.js';

const unitName = z.string().regex(/^[A-Za-z0-9@._:-]+$/, 'must be a systemd unit name');

export const ServiceRuleSchema = z.strictObject({
  /** One unit, or several of which any one will do (chrony, systemd-timesyncd or ntp). `.service` is implied. */
  service: z.union([unitName, z.array(unitName).min(1)]),
  enabled: z.boolean(),
});
export type ServiceRule = z.infer<typeof ServiceRuleSchema>;

/** Administrator units first, then the vendor's: a `.wants/` link in either enables a unit. */
const UNIT_DIRS = ['/etc/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];
const MASKED_TARGET = '/dev/null';

function unitFile(name: string): string {
  return /\.(service|socket|timer|path|target|mount)$/.test(name) ? name : `${name}.service`;
}

/** The `.wants/` or `.requires/` link that enables a unit, or undefined. */
async function findEnablement(ctx: RuleContext, unit: string): Promise<string | undefined> {
  for (const dir of UNIT_DIRS) {
    for (const entry of (await ctx.listDir(dir)) ?? []) {
      if (!entry.endsWith('.wants') && !entry.endsWith('.requires')) continue;
      const link = `${dir}/${entry}/${unit}`;
      if ((await ctx.lstat(link)) !== undefined) return link;
    }
  }
  return undefined;
}

/** A unit masked with `systemctl mask` is a link to /dev/null in /etc: it cannot start, whatever else links to it. */
async function isMasked(ctx: RuleContext, unit: string): Promise<boolean> {
  const path = `/etc/systemd/system/${unit}`;
  const stats = await ctx.lstat(path);
  if (stats === undefined || !stats.isSymbolicLink()) return false;
  return (await readlink(await resolveParent(ctx, path))) === MASKED_TARGET;
}

/** The real path of a link itself (not its target): its parent resolved under the root. */
async function resolveParent(ctx: RuleContext, path: string): Promise<string> {
  const cut = path.lastIndexOf('/');
  return `${await ctx.resolve(path.slice(0, cut))}/${path.slice(cut + 1)}`;
}

/**
 * The `service` rule: whether any of the named systemd units is enabled (linked
 * from a `.wants/` or `.requires/` directory and not masked), read from the unit
 * directories rather than by asking systemd, so it works on a fixture tree and
 * on a stopped system image alike.
 */
export const SERVICE_RULE = defineRule({
  key: 'service',
  schema: ServiceRuleSchema,
  async evaluate(rule, ctx): Promise<RuleOutcome> {
    if ((await ctx.stat('/etc/systemd/system')) === undefined) return { result: 'not_applicable', evidence: 'no /etc/systemd/system: not a systemd host' };
    const units = (typeof rule.service === 'string' ? [rule.service] : rule.service).map(unitFile);
    const notes: string[] = [];
    for (const unit of units) {
      const link = await findEnablement(ctx, unit);
      if (link === undefined) continue;
      if (await isMasked(ctx, unit)) {
        notes.push(`${unit} is masked (/etc/systemd/system/${unit} → ${MASKED_TARGET})`);
        continue;
      }
      return { result: rule.enabled, evidence: `${unit} is enabled: ${link}` };
    }
    const none = units.length === 1 ? `${units[0]} is not enabled` : `none of ${units.join(', ')} is enabled`;
    return { result: !rule.enabled, evidence: notes.length === 0 ? none : `${none}: ${notes.join('; ')}` };
  },
});
