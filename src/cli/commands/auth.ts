import type { Command } from 'commander';
import { BulwarkError, isBulwarkError } from '../../core/errors.js';
import { clientFrom, defaultDataDir, forgetSession, saveSession, serverFrom, type ClientFlags } from '../context.js';
import { isoTime, printJson } from '../output.js';
import { promptHidden, promptLine, readStdin } from '../prompt.js';
import { addClientFlags } from './token.js';

interface LoginFlags extends ClientFlags {
  user: string;
  totp?: string;
  passwordStdin?: boolean;
}

export function registerAuth(program: Command): void {
  const login = addClientFlags(program.command('login').description('log in as a user: password, then a one-time code when MFA is enrolled'))
    .requiredOption('--user <name>', 'user name')
    .option('--totp <code>', 'one-time code from the authenticator (asked for when needed)')
    .option('--password-stdin', 'read the password from standard input instead of asking');
  login.addHelpText('after', '\nExamples:\n  $ bulwark login --user alice\n  $ echo "$PW" | bulwark login --user ci-bot --password-stdin --server https://bulwark:8443');
  login.action(async (flags: LoginFlags) => {
    const dataDir = flags.dataDir ?? defaultDataDir();
    const password = flags.passwordStdin ? await readStdin() : await promptHidden(`Password for ${flags.user}: `);
    // A login must not ride on another credential.
    const client = await clientFrom({ ...flags, token: '' });
    let result;
    try {
      result = await client.login({ user: flags.user, password, ...(flags.totp ? { totp: flags.totp } : {}) });
    } catch (err) {
      if (!(isBulwarkError(err) && err.code === 'MFA_REQUIRED') || flags.totp) throw err;
      const totp = await promptLine('One-time code: ');
      result = await client.login({ user: flags.user, password, totp });
    }
    const apiUrl = (await serverFrom(flags)) ?? '';
    await saveSession(dataDir, { apiUrl, token: result.token, user: result.user, expiresAt: result.expiresAt });
    process.stdout.write(`Logged in as ${result.user} until ${isoTime(result.expiresAt)}\n`);
    if (result.mfaEnrollmentRequired) process.stdout.write('A role of yours requires MFA: run `bulwark mfa enroll` now; nothing else is allowed until then.\n');
  });

  const logout = addClientFlags(program.command('logout').description('end the login session on the server and forget it here'));
  logout.action(async (flags: ClientFlags) => {
    const dataDir = flags.dataDir ?? defaultDataDir();
    await (await clientFrom(flags)).logout().catch((err: unknown) => {
      if (!(isBulwarkError(err) && err.code === 'UNAUTHENTICATED')) throw err;
    });
    await forgetSession(dataDir);
    process.stdout.write('Logged out\n');
  });

  const whoami = addClientFlags(program.command('whoami').description('show who the CLI acts as')).option('--json', 'print JSON');
  whoami.action(async (flags: ClientFlags & { json?: boolean }) => {
    const me = await (await clientFrom(flags)).whoami();
    if (flags.json) return printJson(me);
    process.stdout.write(`${me.actor} (${me.kind}), roles ${me.roles.join(', ')}, MFA ${me.mfa ? 'passed' : 'not passed'}\n`);
  });

  const mfa = program.command('mfa').description('second factor (TOTP)');
  const enroll = addClientFlags(mfa.command('enroll').description('add an authenticator: shows a QR code, then asks for a first code'))
    .option('--code <code>', 'confirm with this code instead of asking')
    .option('--current-code <code>', 'a code of the factor in use, to replace it (asked for when needed)')
    .option('--no-qr', 'print only the otpauth:// URI');
  enroll.addHelpText('after', '\nExamples:\n  $ bulwark mfa enroll');
  enroll.action(async (flags: ClientFlags & { code?: string; currentCode?: string; qr: boolean }) => {
    const client = await clientFrom(flags);
    const begun = await client.mfaEnroll(flags.currentCode).catch(async (err: unknown) => {
      // Replacing a factor proves the old one first.
      if (!(isBulwarkError(err) && err.code === 'MFA_REQUIRED') || flags.currentCode) throw err;
      return client.mfaEnroll(await promptLine('Code from the authenticator in use now: '));
    });
    const { uri, secret } = begun;
    process.stdout.write(`Add this key to an authenticator app (Google Authenticator, 1Password, …):\n\n  ${uri}\n\n  key: ${secret}\n\n`);
    if (flags.qr) {
      const { toString } = await import('qrcode');
      process.stdout.write(`${await toString(uri, { type: 'terminal', small: true })}\n`);
    }
    const code = flags.code ?? (await promptLine('Code shown by the app: '));
    if (!/^\d{6,8}$/.test(code)) throw new BulwarkError('BAD_REQUEST', 'a code is 6 digits');
    await client.mfaConfirm(code);
    await forgetSession(flags.dataDir ?? defaultDataDir());
    process.stdout.write('MFA enrolled. Log in again with `bulwark login --user NAME`; codes are asked for from now on.\n');
  });
}
