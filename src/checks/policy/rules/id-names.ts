import { memoize } from './context-memo.js';
import type { RuleContext } from './types.js';

/** Users and groups of the root's /etc/passwd and /etc/group, both ways. */
export interface IdNames {
  users: Map<number, string>;
  groups: Map<number, string>;
}

function parseIds(text: string | undefined): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of (text ?? '').split('\n')) {
    const [name, , id] = line.split(':');
    const number = Number(id);
    // The first entry for an id names it, as getpwuid(3) does.
    if (name && id !== undefined && id !== '' && Number.isInteger(number) && !out.has(number)) out.set(number, name);
  }
  return out;
}

/** Parsed once per evaluation; a missing file is an empty database (ids then show as numbers). */
export function idNames(ctx: RuleContext): Promise<IdNames> {
  return memoize(ctx, 'id-names', async () => ({
    users: parseIds(await ctx.readFile('/etc/passwd').catch(() => undefined)),
    groups: parseIds(await ctx.readFile('/etc/group').catch(() => undefined)),
  }));
}
