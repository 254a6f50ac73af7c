import { z } from 'zod';
import { defineRule } from './types.js';
import type { RuleContext, RuleOutcome } from './types.js';

export const KernelModuleRuleSchema = z.strictObject({
  kernel_module: z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be a module name'),
  disabled: z.boolean(),
});
export type KernelModuleRule = z.infer<typeof KernelModuleRuleSchema>;

/** modprobe's configuration directories, in its own order of precedence. */
const MODPROBE_DIRS = ['/etc/modprobe.d', '/usr/local/lib/modprobe.d', '/usr/lib/modprobe.d', '/lib/modprobe.d'];
/** An `install` line running one of these replaces loading with a no-op. */
const NO_OP_COMMANDS = new Set(['/bin/false', '/bin/true', '/usr/bin/false', '/usr/bin/true']);

/** modprobe treats `-` and `_` in module names alike; /proc/modules always shows `_`. */
function canonical(name: string): string {
  return name.replaceAll('-', '_');
}

/** `kernel/fs/cramfs/cramfs.ko.xz` → `cramfs`. */
function moduleNameOfPath(path: string): string {
  return canonical(path.slice(path.lastIndexOf('/') + 1).replace(/\.ko(\.\w+)?$/, ''));
}

async function findLine(ctx: RuleContext, file: string, test: (words: string[]) => boolean): Promise<string | undefined> {
  const text = await ctx.readFile(file);
  if (text === undefined) return undefined;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (test(line.split(/\s+/))) return `${file}:${i + 1}: ${line}`;
  }
  return undefined;
}

/** The first modprobe.d line that stops the module from loading: `install <m> /bin/false` or `blacklist <m>`. */
async function findDenial(ctx: RuleContext, name: string): Promise<string | undefined> {
  const isDenial = ([directive, module, command]: string[]): boolean =>
    module !== undefined &&
    canonical(module) === name &&
    ((directive === 'install' && command !== undefined && NO_OP_COMMANDS.has(command)) || directive === 'blacklist');
  for (const dir of MODPROBE_DIRS) {
    for (const entry of (await ctx.listDir(dir)) ?? []) {
      if (!entry.endsWith('.conf')) continue;
      const found = await findLine(ctx, `${dir}/${entry}`, isDenial);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

type Availability = { state: 'builtin' | 'module' | 'absent' | 'unknown'; evidence: string };

/** Whether the running kernel has the module at all, from its modules.builtin and modules.dep. */
async function availability(ctx: RuleContext, name: string): Promise<Availability> {
  const release = (await ctx.readFile('/proc/sys/kernel/osrelease'))?.trim();
  if (release === undefined || release === '') return { state: 'unknown', evidence: 'kernel release unknown' };
  const dir = `/lib/modules/${release}`;
  if ((await ctx.stat(dir)) === undefined) return { state: 'absent', evidence: `no ${dir}` };
  const listed = async (file: string): Promise<boolean | undefined> => {
    const text = await ctx.readFile(`${dir}/${file}`);
    if (text === undefined) return undefined;
    return text.split('\n').some((line) => {
      const path = line.split(':')[0]?.trim() ?? '';
      return path !== '' && moduleNameOfPath(path) === name;
    });
  };
  if (await listed('modules.builtin')) return { state: 'builtin', evidence: `built into kernel ${release} (${dir}/modules.builtin)` };
  const asModule = await listed('modules.dep');
  if (asModule === undefined) return { state: 'unknown', evidence: `no ${dir}/modules.dep` };
  return asModule
    ? { state: 'module', evidence: `available for kernel ${release}` }
    : { state: 'absent', evidence: `not built for kernel ${release} (not in ${dir}/modules.dep)` };
}

/**
 * The `kernel_module` rule. A module is disabled when it is not loaded, not built
 * into the kernel, and either denied in modprobe.d or not built for the running
 * kernel at all.
 */
export const KERNEL_MODULE_RULE = defineRule({
  key: 'kernel_module',
  schema: KernelModuleRuleSchema,
  async evaluate(rule, ctx): Promise<RuleOutcome> {
    const name = canonical(rule.kernel_module);
    const verdict = (disabled: boolean, evidence: string): RuleOutcome => ({ result: disabled === rule.disabled, evidence });
    const loaded = await findLine(ctx, '/proc/modules', ([module]) => module !== undefined && canonical(module) === name);
    if (loaded !== undefined) return verdict(false, `${rule.kernel_module} is loaded (${loaded})`);
    const available = await availability(ctx, name);
    if (available.state === 'builtin') return verdict(false, `${rule.kernel_module} is ${available.evidence}`);
    const denial = await findDenial(ctx, name);
    if (denial !== undefined) return verdict(true, `${rule.kernel_module} is not loaded and is denied: ${denial}`);
    if (available.state === 'absent') return verdict(true, `${rule.kernel_module} is not loaded and ${available.evidence}`);
    return verdict(false, `${rule.kernel_module} can be loaded: ${available.evidence}, and no install or blacklist line in ${MODPROBE_DIRS.join(', ')}`);
  },
});
