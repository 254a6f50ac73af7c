import type { Command } from 'commander';
import { BulwarkError } from '../../core/errors.js';
import { KeyringClient } from '../../client/keyring-client.js';
import type { KeyringStatus, SealStatus } from '../../protocol/keyring.js';
import { clientFrom, type ClientFlags } from '../context.js';
import { isoTime, printJson, printTable, Progress } from '../output.js';
import { promptHidden, readStdin } from '../prompt.js';
import { addClientFlags } from './token.js';

async function keyringClient(flags: ClientFlags): Promise<KeyringClient> {
  return new KeyringClient(await clientFrom(flags));
}

function describeSeal(s: SealStatus): string {
  if (!s.sealed) return 'unsealed';
  if (s.method === 'shamir') return `sealed: ${s.progress} of ${s.threshold} shares given`;
  return `sealed (unlocked by ${s.method === 'passphrase' ? 'a passphrase' : 'the key file'})`;
}

/** Reads a secret from stdin when asked to, else from the terminal without echo. */
async function secretInput(fromStdin: boolean | undefined, question: string): Promise<string> {
  const value = fromStdin ? await readStdin() : await promptHidden(question);
  if (value === '') throw new BulwarkError('BAD_REQUEST', `${question.replace(/:\s*$/, '')} is empty`);
  return value;
}

export function registerKeys(program: Command): void {
  const unseal = addClientFlags(program.command('unseal').description("unlock a sealed server's keys with its passphrase or one key share"))
    .option('--stdin', 'read the passphrase or share from stdin instead of asking')
    .option('--reset', 'forget the shares given so far')
    .option('--status', 'only show whether the server is sealed')
    .option('--json', 'print JSON');
  unseal.addHelpText(
    'after',
    `
Each share holder runs \`bulwark unseal\` and types one share; the server unlocks
once the threshold is reached. A passphrase server unlocks with its passphrase.

Examples:
  $ bulwark unseal                         # asks for the passphrase or a share (no echo)
  $ bulwark unseal --status
  $ bulwark unseal --stdin < share.txt
  $ bulwark unseal --reset                 # start the shares over`,
  );
  unseal.action(async (flags: ClientFlags & { stdin?: boolean; reset?: boolean; status?: boolean; json?: boolean }) => {
    const client = await keyringClient(flags);
    let status = await client.sealStatus();
    if (flags.reset) status = await client.unseal({ reset: true });
    else if (!flags.status && status.sealed) {
      if (status.method === 'file') status = await client.unseal({});
      else if (status.method === 'passphrase') status = await client.unseal({ passphrase: await secretInput(flags.stdin, 'Passphrase: ') });
      else status = await client.unseal({ share: await secretInput(flags.stdin, `Key share (${status.progress + 1} of ${status.threshold}): `) });
    }
    if (flags.json) return printJson(status);
    process.stdout.write(`${describeSeal(status)}\n`);
  });

  const seal = addClientFlags(program.command('seal').description('seal the server: stop every service and lock its keys until `bulwark unseal`'));
  seal.addHelpText('after', '\nThe server keeps answering /healthz and unseal; agents reconnect once it is unsealed.\n\nExamples:\n  $ bulwark seal');
  seal.action(async (flags: ClientFlags) => {
    await (await keyringClient(flags)).seal();
    process.stdout.write('sealed; unseal with `bulwark unseal`\n');
  });

  const group = program.command('keys').description('the keyring: key versions, rotation and how the master key is kept');

  const status = addClientFlags(group.command('status').description('show key versions, encryptions per version and re-wrap progress')).option('--json', 'print JSON');
  status.addHelpText('after', '\nExamples:\n  $ bulwark keys status\n  $ bulwark keys status --json');
  status.action(async (flags: ClientFlags & { json?: boolean }) => {
    const s = await (await keyringClient(flags)).status();
    if (flags.json) return printJson(s);
    printKeyStatus(s);
  });

  const rotate = addClientFlags(group.command('rotate').description('make a new key version active now; existing data keys move to it in the background'))
    .option('--wait', 'wait until the re-wrap has finished (progress bar on a terminal)');
  rotate.addHelpText('after', '\nExamples:\n  $ bulwark keys rotate\n  $ bulwark keys rotate --wait');
  rotate.action(async (flags: ClientFlags & { wait?: boolean }) => {
    const client = await keyringClient(flags);
    const { version } = await client.rotate();
    process.stdout.write(`key version ${version} is active; older data keys are being re-wrapped (\`bulwark keys status\`)\n`);
    if (!flags.wait) return;
    let progress: Progress | undefined;
    for (;;) {
      const s = await client.status();
      const r = s.rewrap;
      if (r && r.target === version) {
        progress ??= new Progress('re-wrapping', r.total);
        progress.update(r.done);
        if (r.finishedAt !== null) break;
      } else if (s.activeVersion !== version) {
        throw new BulwarkError('CONFLICT', `key version ${s.activeVersion} replaced ${version} meanwhile; see \`bulwark keys status\``);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    progress?.done();
    process.stdout.write(`re-wrap finished; older key versions are retired\n`);
  });

  const rekey = addClientFlags(group.command('rekey').description('replace the master key and how it is kept (shares, passphrase or key file); old shares stop working'))
    .option('--shares <n>', 'split the new master key into N shares')
    .option('--threshold <m>', 'shares needed to unseal')
    .option('--passphrase', 'protect the new master key with a passphrase (asked twice, no echo)')
    .option('--passphrase-stdin', 'read the new passphrase from stdin')
    .option('--key-file', "keep the new master key in the server's key file")
    .option('--json', 'print JSON');
  rekey.addHelpText(
    'after',
    `
The key versions are sealed under the new master key; no data is re-encrypted.
New shares are printed once: hand one to each holder.

Examples:
  $ bulwark keys rekey --shares 5 --threshold 3
  $ bulwark keys rekey --passphrase
  $ bulwark keys rekey --key-file`,
  );
  rekey.action(async (flags: ClientFlags & { shares?: string; threshold?: string; passphrase?: boolean; passphraseStdin?: boolean; keyFile?: boolean; json?: boolean }) => {
    const chosen = [flags.shares !== undefined || flags.threshold !== undefined, flags.passphrase === true || flags.passphraseStdin === true, flags.keyFile === true].filter(Boolean).length;
    if (chosen !== 1) throw new BulwarkError('BAD_REQUEST', 'choose one of --shares N --threshold M, --passphrase (or --passphrase-stdin), or --key-file');
    const client = await keyringClient(flags);
    let result;
    if (flags.keyFile) result = await client.rekey({ method: 'file' });
    else if (flags.passphrase || flags.passphraseStdin) result = await client.rekey({ method: 'passphrase', passphrase: await newPassphrase(flags.passphraseStdin) });
    else {
      const { shares, threshold } = parseShares(flags.shares, flags.threshold);
      result = await client.rekey({ method: 'shamir', shares, threshold });
    }
    if (flags.json) return printJson(result);
    process.stdout.write(`the master key was replaced; it is now kept by ${result.method === 'shamir' ? 'key shares' : result.method === 'passphrase' ? 'a passphrase' : 'the key file'}\n`);
    if (result.shares) printShares(result.shares);
  });
}

export function parseShares(sharesText: string | undefined, thresholdText: string | undefined): { shares: number; threshold: number } {
  const shares = Number(sharesText);
  const threshold = Number(thresholdText);
  if (!Number.isInteger(shares) || shares < 1 || shares > 255) throw new BulwarkError('BAD_REQUEST', `--shares must be a whole number from 1 to 255, not "${sharesText ?? ''}"`);
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > shares) {
    throw new BulwarkError('BAD_REQUEST', `--threshold must be a whole number from 1 to --shares (${shares}), not "${thresholdText ?? ''}"`);
  }
  return { shares, threshold };
}

/** A new passphrase: from stdin, or asked twice on the terminal. */
export async function newPassphrase(fromStdin: boolean | undefined): Promise<string> {
  if (fromStdin) return secretInput(true, 'Passphrase: ');
  const first = await promptHidden('New passphrase (12 characters or more): ');
  const second = await promptHidden('Repeat it: ');
  if (first !== second) throw new BulwarkError('BAD_REQUEST', 'the two passphrases differ; nothing was changed');
  return first;
}

export function printShares(shares: readonly string[]): void {
  process.stdout.write(`\nKey shares (shown once; give one to each holder, any ${shares[0]?.split('-')[2] ?? '?'} of them unseal):\n`);
  for (const [i, share] of shares.entries()) process.stdout.write(`  ${i + 1}. ${share}\n`);
}

function printKeyStatus(s: KeyringStatus): void {
  const sharesText = s.shares ? ` (${s.shares.threshold} of ${s.shares.count} shares, set ${s.shares.setId})` : '';
  process.stdout.write(`master key: kept by ${s.method}${sharesText}\nactive key version: ${s.activeVersion}\n\n`);
  printTable(
    { version: 'VERSION', state: 'STATE', encryptions: 'ENCRYPTIONS', created: 'CREATED', retired: 'RETIRED' },
    s.versions.map((v) => ({
      version: String(v.version),
      state: v.state,
      encryptions: `${v.encryptions} (${((v.encryptions / s.maxEncryptionsPerKey) * 100).toFixed(4)}% of limit)`,
      created: isoTime(v.createdAt),
      retired: v.retiredAt === null ? '-' : isoTime(v.retiredAt),
    })),
  );
  const r = s.rewrap;
  if (r) {
    const state = r.finishedAt !== null ? `finished ${isoTime(r.finishedAt)}` : r.running ? 'running' : 'waiting to resume';
    process.stdout.write(`\nre-wrap to version ${r.target}: ${r.done}/${r.total} values, ${state}\n`);
  }
}
