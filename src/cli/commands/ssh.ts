import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { BulwarkError } from '../../core/errors.js';
import { parseDuration } from '../../core/duration.js';
import { writeFileAtomic } from '../../core/fs.js';
import { SshCaSchema, SshSignResponseSchema } from '../../protocol/ssh.js';
import { clientFrom, type ClientFlags } from '../context.js';
import { isoTime, printJson } from '../output.js';
import { addClientFlags } from './token.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function registerSsh(program: Command): void {
  const group = program.command('ssh').description('short-lived OpenSSH user certificates from the cluster SSH CA');

  const sign = addClientFlags(group.command('sign').argument('<public-key-file>', 'your public key, e.g. ~/.ssh/id_ed25519.pub').description('get a certificate for logins your role allows'))
    .requiredOption('--principal <login>', 'login name on the hosts (repeatable)', collect)
    .option('--ttl <duration>', 'lifetime (at most 12h)', '1h')
    .option('--out <file>', 'where to write the certificate (default: next to the key, as <key>-cert.pub)')
    .option('--json', 'print JSON');
  sign.addHelpText(
    'after',
    `
Examples:
  $ bulwark ssh sign --principal ubuntu --ttl 1h ~/.ssh/id_ed25519.pub
  $ ssh -i ~/.ssh/id_ed25519 ubuntu@host      # ssh picks up id_ed25519-cert.pub by itself`,
  );
  sign.action(async (file: string, flags: ClientFlags & { principal: string[]; ttl: string; out?: string; json?: boolean }) => {
    const publicKey = (await readFile(file, 'utf8').catch(() => {
      throw new BulwarkError('BAD_REQUEST', `cannot read the public key ${file}`);
    })).trim();
    const ttlSeconds = Math.round(parseDuration(flags.ttl) / 1000);
    const client = await clientFrom(flags);
    const signed = await client.call('POST', '/v1/ssh/sign', SshSignResponseSchema, { body: { publicKey, principals: flags.principal, ttlSeconds } });
    const out = flags.out ?? file.replace(/\.pub$/, '') + '-cert.pub';
    await writeFileAtomic(out, `${signed.certificate}\n`, 0o644);
    if (flags.json) return printJson({ ...signed, file: out });
    process.stdout.write(`Certificate ${signed.serial} for ${signed.principals.join(', ')} (key id ${signed.keyId}), valid until ${isoTime(signed.validBefore)}, written to ${out}\n`);
  });

  const ca = addClientFlags(group.command('ca').description('print the SSH CA public key, for TrustedUserCAKeys in sshd_config')).option('--json', 'print JSON');
  ca.addHelpText('after', '\nExamples:\n  $ bulwark ssh ca | sudo tee /etc/ssh/bulwark_user_ca.pub\n  # sshd_config: TrustedUserCAKeys /etc/ssh/bulwark_user_ca.pub');
  ca.action(async (flags: ClientFlags & { json?: boolean }) => {
    const info = await (await clientFrom(flags)).call('GET', '/v1/ssh/ca', SshCaSchema);
    if (flags.json) return printJson(info);
    process.stdout.write(`${info.publicKey}\n`);
  });
}
