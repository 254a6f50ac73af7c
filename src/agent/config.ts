import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { BulwarkError } from '../core/errors.js';
import { loadYaml } from '../access/yaml-source.js';
import { EXEC_LIMITS } from '../protocol/agent.js';
import type { ExecPolicy } from './exec-runner.js';
import { DEFAULT_AUDIT_POLICY, type AuditPolicy } from './audit-runner.js';
import { destinationProblem } from '../protocol/secret-delivery.js';
import type { SecretsPolicy } from './secret-delivery.js';

/** Optional settings of an agent, in `<agent data dir>/config.yaml`; command-line flags override them. */
export const AGENT_CONFIG_FILE = 'config.yaml';

/** A list of absolute, normalised directories (`/` allowed), as `allow_dirs` and `restore_dirs` take. */
const DirListSchema = z
  .array(
    z
      .string()
      .min(1)
      .max(4096)
      .refine((p) => p === '/' || destinationProblem(p) === undefined, 'an absolute, normalised directory is expected (no trailing "/", ".." or "//")'),
  )
  .max(256)
  .default([]);

const AgentConfigSchema = z
  .object({
    exec: z
      .object({
        enabled: z.boolean().default(false),
        allow: z.array(z.string().min(1).max(EXEC_LIMITS.maxArgLength)).max(1000).default([]),
      })
      .strict()
      .optional(),
    audit: z
      .object({
        /** Run command checks (`c:` rules, `command` rules) of audit policies. */
        commands: z.boolean().default(false),
        command_timeout_seconds: z.number().int().min(1).max(600).default(30),
        max_command_output_bytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(64 * 1024),
        /** Paths no audit rule may read (files, or directories and everything under them); the agent's data directory always is. */
        deny_paths: z
          .array(z.string().min(1).max(4096).refine((p) => p.startsWith('/'), 'an absolute path is expected'))
          .max(256)
          .default([]),
      })
      .strict()
      .optional(),
    secrets: z
      .object({
        /** When set, the only directories secrets may be written to (overriding the protected system locations). */
        allow_dirs: DirListSchema,
      })
      .strict()
      .optional(),
    backup: z
      .object({
        /** When set, the only directories a restore through this agent may write into (overriding the protected system locations). */
        restore_dirs: DirListSchema,
      })
      .strict()
      .optional(),
  })
  .strict();
export type AgentConfig = z.infer<typeof AgentConfigSchema>;

/**
 * Reads `<dataDir>/config.yaml` if there is one (none: empty configuration).
 *
 * @example
 * # config.yaml
 * exec:
 *   enabled: true
 *   allow: ["uptime", "systemctl status *"]
 * audit:
 *   commands: true            # run command checks of audit policies
 *   command_timeout_seconds: 30
 *   deny_paths: [/root/.ssh]  # never read by a policy (nor is this data directory)
 * secrets:
 *   allow_dirs: [/etc/app]    # secrets go only here (default: anywhere but protected system locations)
 * backup:
 *   restore_dirs: [/restore]  # restores through this agent go only here (default: anywhere but protected system locations)
 */
export async function loadAgentConfig(dataDir: string): Promise<AgentConfig> {
  const path = join(dataDir, AGENT_CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new BulwarkError('CONFIG_INVALID', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const docs = loadYaml(text, 'CONFIG_INVALID', path);
  if (docs.length > 1) throw new BulwarkError('CONFIG_INVALID', `${path}: one YAML document expected, found ${docs.length}`);
  const doc = docs[0];
  const data = doc?.data ?? {};
  const parsed = AgentConfigSchema.safeParse(data === null ? {} : data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')} (line ${doc?.locate(issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))) ?? '?'})` : 'the file';
    throw new BulwarkError('CONFIG_INVALID', `${path}: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** The exec policy: the file's, with `--enable-exec` and `--exec-allow` (when given) taking precedence; off by default. */
export function resolveExecPolicy(config: AgentConfig, flags: { enableExec?: boolean; execAllow?: string[] }): ExecPolicy {
  return {
    enabled: flags.enableExec === true || (config.exec?.enabled ?? false),
    allow: flags.execAllow && flags.execAllow.length > 0 ? [...flags.execAllow] : [...(config.exec?.allow ?? [])],
  };
}

/** What audits may do: the file's `audit:` section, with `--enable-command-checks` turning command checks on. The agent adds its data directory to `deniedPaths`. */
export function resolveAuditPolicy(config: AgentConfig, flags: { enableCommandChecks?: boolean }): AuditPolicy {
  const audit = config.audit;
  return {
    commands: flags.enableCommandChecks === true || (audit?.commands ?? DEFAULT_AUDIT_POLICY.commands),
    commandTimeoutMs: (audit?.command_timeout_seconds ?? DEFAULT_AUDIT_POLICY.commandTimeoutMs / 1000) * 1000,
    maxCommandOutputBytes: audit?.max_command_output_bytes ?? DEFAULT_AUDIT_POLICY.maxCommandOutputBytes,
    deniedPaths: [...(audit?.deny_paths ?? DEFAULT_AUDIT_POLICY.deniedPaths)],
  };
}

/** Where delivered secrets may be written: the file's `secrets.allow_dirs` (empty: anywhere but protected system locations). */
export function resolveSecretsPolicy(config: AgentConfig): SecretsPolicy {
  return { allowDirs: [...(config.secrets?.allow_dirs ?? [])] };
}

/** Where restores through this agent may write: the file's `backup.restore_dirs` (empty: anywhere but protected system locations). */
export function resolveRestoreDirs(config: AgentConfig): string[] {
  return [...(config.backup?.restore_dirs ?? [])];
}
