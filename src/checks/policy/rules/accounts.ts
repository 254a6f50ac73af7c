import { z } from 'zod';
import { type AccountLine, parseAccountFile, where } from './account-files.js';
import { listItems } from './evidence-list.js';
import { defineRule } from './types.js';
import type { RuleContext, RuleOutcome } from './types.js';

export const ACCOUNT_ASSERTIONS = [
  'only_root_uid_0',
  'no_empty_passwords',
  'no_duplicate_uids',
  'no_duplicate_gids',
  'no_duplicate_user_names',
  'no_duplicate_group_names',
  'shadowed_passwords',
  'strong_password_hashes',
  'system_accounts_no_login',
  'root_primary_group_0',
  'no_legacy_plus_entries',
] as const;
export type AccountAssertion = (typeof ACCOUNT_ASSERTIONS)[number];

export const AccountsRuleSchema = z.strictObject({
  accounts: z.enum(ACCOUNT_ASSERTIONS),
});
export type AccountsRule = z.infer<typeof AccountsRuleSchema>;

const PASSWD = '/etc/passwd';
const SHADOW = '/etc/shadow';
const GROUP = '/etc/group';
const GSHADOW = '/etc/gshadow';

/** yescrypt, gost-yescrypt, scrypt, SHA-512, SHA-256 and bcrypt: the crypt(3) methods still considered strong. */
const STRONG_HASH_PREFIXES = ['$y$', '$gy$', '$7$', '$6$', '$5$', '$2b$'];
/** Accounts Debian ships with a real shell on purpose: they run one fixed command, not a login. */
const SYSTEM_ACCOUNTS_WITH_SHELL = new Set(['root', 'sync', 'shutdown', 'halt']);
const NO_LOGIN_SHELLS = new Set(['/usr/sbin/nologin', '/sbin/nologin', '/bin/false', '/usr/bin/false']);
/** First uid of a human account on Debian (login.defs UID_MIN). */
const FIRST_USER_UID = 1000;

type Files = Partial<Record<string, AccountLine[]>>;

/** Every name a record is about, with its file:line, for the evidence of a failed assertion. */
function describe(entries: readonly AccountLine[], what: (e: AccountLine) => string): string[] {
  return entries.map((e) => `${what(e)} (${where(e)})`);
}

function duplicates(entries: readonly AccountLine[], field: number, label: string, ignore?: string): string[] {
  const byValue = new Map<string, AccountLine[]>();
  for (const e of entries) {
    const value = e.fields[field];
    if (value === undefined || value === ignore || e.fields[0]?.startsWith('+')) continue;
    byValue.set(value, [...(byValue.get(value) ?? []), e]);
  }
  return [...byValue]
    .filter(([, list]) => list.length > 1)
    .map(([value, list]) => `${label} ${value} shared by ${list.map((e) => `${e.fields[0]} (${where(e)})`).join(' and ')}`);
}

interface Assertion {
  /** The files the assertion reads; the first one must exist for it to apply. */
  files: readonly string[];
  /** Offending records in evidence form; none means the assertion holds. */
  offenders(files: Files): string[];
  /** What holds, for the evidence of a pass. */
  holds: string;
}

const passwd = (f: Files): AccountLine[] => f[PASSWD] ?? [];

const ASSERTIONS: Record<AccountAssertion, Assertion> = {
  only_root_uid_0: {
    files: [PASSWD],
    offenders: (f) => describe(passwd(f).filter((e) => e.fields[2] === '0' && e.fields[0] !== 'root'), (e) => `${e.fields[0]} has UID 0`),
    holds: 'only root has UID 0',
  },
  no_empty_passwords: {
    files: [SHADOW, PASSWD],
    offenders: (f) => [
      ...describe((f[SHADOW] ?? []).filter((e) => e.fields.length > 1 && e.fields[1] === ''), (e) => `${e.fields[0]} has an empty password`),
      ...describe(passwd(f).filter((e) => e.fields.length > 1 && e.fields[1] === ''), (e) => `${e.fields[0]} has an empty password`),
    ],
    holds: 'no account has an empty password field',
  },
  // A second UID 0 is only_root_uid_0's finding: one fault, one finding.
  no_duplicate_uids: { files: [PASSWD], offenders: (f) => duplicates(passwd(f), 2, 'UID', '0'), holds: 'no two accounts share a UID other than 0' },
  no_duplicate_gids: { files: [GROUP], offenders: (f) => duplicates(f[GROUP] ?? [], 2, 'GID'), holds: 'every GID is unique' },
  no_duplicate_user_names: { files: [PASSWD], offenders: (f) => duplicates(passwd(f), 0, 'user name'), holds: 'every user name is unique' },
  no_duplicate_group_names: { files: [GROUP], offenders: (f) => duplicates(f[GROUP] ?? [], 0, 'group name'), holds: 'every group name is unique' },
  shadowed_passwords: {
    files: [PASSWD],
    offenders: (f) =>
      describe(
        passwd(f).filter((e) => !e.fields[0]?.startsWith('+') && e.fields[1] !== 'x'),
        (e) => `${e.fields[0]} does not use /etc/shadow (password field is not "x")`,
      ),
    holds: 'every account keeps its password in /etc/shadow',
  },
  strong_password_hashes: {
    files: [SHADOW],
    offenders: (f) =>
      describe(
        (f[SHADOW] ?? []).filter((e) => {
          const hash = e.fields[1] ?? '';
          // Locked accounts carry no usable hash; empty fields are no_empty_passwords' finding, not this one's.
          if (hash === '' || hash.startsWith('!') || hash.startsWith('*') || e.fields[0]?.startsWith('+')) return false;
          return !STRONG_HASH_PREFIXES.some((p) => hash.startsWith(p));
        }),
        (e) => `${e.fields[0]} has a weak password hash (${(e.fields[1] ?? '').slice(0, 4)}…)`,
      ),
    holds: 'every password hash uses yescrypt, scrypt, SHA-512, SHA-256 or bcrypt',
  },
  system_accounts_no_login: {
    files: [PASSWD],
    offenders: (f) =>
      describe(
        passwd(f).filter((e) => {
          const [name = '', , uid = ''] = e.fields;
          if (name.startsWith('+') || SYSTEM_ACCOUNTS_WITH_SHELL.has(name) || !/^\d+$/.test(uid)) return false;
          return Number(uid) < FIRST_USER_UID && !NO_LOGIN_SHELLS.has(e.fields[6] ?? '');
        }),
        (e) => `system account ${e.fields[0]} (UID ${e.fields[2]}) has login shell ${e.fields[6] ?? '(none)'}`,
      ),
    holds: `every system account (UID < ${FIRST_USER_UID}) has a nologin shell`,
  },
  root_primary_group_0: {
    files: [PASSWD],
    offenders: (f) =>
      describe(passwd(f).filter((e) => e.fields[0] === 'root' && e.fields[3] !== '0'), (e) => `root has primary GID ${e.fields[3] ?? '(none)'}`),
    holds: "root's primary group is GID 0",
  },
  no_legacy_plus_entries: {
    files: [PASSWD, SHADOW, GROUP, GSHADOW],
    offenders: (f) =>
      [PASSWD, SHADOW, GROUP, GSHADOW].flatMap((file) =>
        describe((f[file] ?? []).filter((e) => e.fields[0]?.startsWith('+')), (e) => `legacy NIS entry "${e.fields[0]}"`),
      ),
    holds: 'no legacy "+" entries',
  },
};

async function readFiles(ctx: RuleContext, paths: readonly string[]): Promise<Files> {
  const files: Files = {};
  for (const path of paths) {
    const text = await ctx.readFile(path);
    if (text !== undefined) files[path] = parseAccountFile(path, text);
  }
  return files;
}

/**
 * The `accounts` rule: one named assertion over the local account databases
 * (`/etc/passwd`, `shadow`, `group`, `gshadow`). Evidence names each offending
 * account with its file and line.
 */
export const ACCOUNTS_RULE = defineRule({
  key: 'accounts',
  schema: AccountsRuleSchema,
  async evaluate(rule, ctx): Promise<RuleOutcome> {
    const assertion = ASSERTIONS[rule.accounts];
    const files = await readFiles(ctx, assertion.files);
    const [required] = assertion.files;
    if (required !== undefined && files[required] === undefined) return { result: 'not_applicable', evidence: `${required} not found` };
    const offenders = assertion.offenders(files);
    if (offenders.length === 0) return { result: true, evidence: `${assertion.holds} (${assertion.files.filter((p) => files[p]).join(', ')})` };
    return { result: false, evidence: listItems(offenders) };
  },
});
