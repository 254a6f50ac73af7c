import { Command, CommanderError } from 'commander';
import { isBulwarkError } from '../core/errors.js';
import { VERSION } from '../core/version.js';
import { clean } from './output.js';
import { registerAgent } from './commands/agent.js';
import { registerDemo } from './commands/demo.js';
import { registerEvents } from './commands/events.js';
import { registerNodes } from './commands/nodes.js';
import { registerServer } from './commands/server.js';
import { registerToken } from './commands/token.js';
import { registerUp } from './commands/up.js';
import { registerAuth } from './commands/auth.js';
import { registerUsers } from './commands/users.js';
import { registerRoles } from './commands/roles.js';
import { registerSsh } from './commands/ssh.js';
import { registerAuditlog } from './commands/auditlog.js';
import { registerExec } from './commands/exec.js';
import { registerAudit, registerPolicy, registerVulndb } from './commands/audit.js';
import { registerSecret } from './commands/secret.js';
import { registerKeys } from './commands/keys.js';
import { registerBackup } from './commands/backup.js';
import { registerBackupFleet } from './commands/backup-fleet.js';

/** Exit codes scripts can rely on: 0 ok, 1 unexpected, 2 usage, others per error code (docs/errors.md). */
const USAGE_EXIT = 2;

export function buildProgram(): Command {
  const program = new Command('bulwark')
    .description('Keeps a fleet of Linux machines secure and recoverable.')
    .version(VERSION)
    // Program options only before the command, so a command may have its own --version (`secret get --version 2`).
    .enablePositionalOptions()
    .showHelpAfterError('(add --help for usage and examples)')
    .exitOverride();
  program.addHelpText(
    'after',
    `
Examples:
  $ bulwark up                                        # start a cluster on this machine
  $ bulwark token create --ttl 1h --label env=prod    # let another machine join
  $ bulwark agent up --server https://HOST:8444 --token T --ca-pin sha256:HEX
  $ bulwark nodes ls --selector env=prod
  $ bulwark audit run --wait && bulwark audit report -o fleet.html
  $ bulwark demo --nodes 5                            # a simulated fleet in one command`,
  );
  registerUp(program);
  registerServer(program);
  registerAgent(program);
  registerToken(program);
  registerNodes(program);
  registerEvents(program);
  registerDemo(program);
  registerAuth(program);
  registerUsers(program);
  registerRoles(program);
  registerSsh(program);
  registerAuditlog(program);
  registerExec(program);
  registerAudit(program);
  registerPolicy(program);
  registerVulndb(program);
  registerSecret(program);
  registerKeys(program);
  registerBackup(program);
  registerBackupFleet(program);
  for (const cmd of program.commands) {
    cmd.exitOverride();
    for (const sub of cmd.commands) {
      sub.exitOverride();
      for (const leaf of sub.commands) leaf.exitOverride();
    }
  }
  return program;
}

async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has already printed its one-line message (or the help).
      const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
      process.exit(ok ? 0 : USAGE_EXIT);
    }
    if (isBulwarkError(err)) {
      // Messages can carry names from a backup repository or a node: never let them drive the terminal.
      process.stderr.write(`bulwark: ${clean(err.message)}\n`);
      process.exit(err.exitCode);
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`bulwark: unexpected error: ${clean(message)}\n`);
    if (process.env.BULWARK_DEBUG && err instanceof Error) process.stderr.write(`${err.stack ?? ''}\n`);
    process.exit(1);
  }
  process.exit(typeof process.exitCode === "number" ? process.exitCode : 0);
}

await main(process.argv);
