import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeFixtureTree, removeFixtureTree } from '../../../host/fixture-tree.js';
import { ACCOUNT_ASSERTIONS, ACCOUNTS_RULE, AccountsRuleSchema, type AccountAssertion } from './accounts.js';
import { fixtureContext } from './test-context.js';

const CLEAN = {
  '/etc/passwd': [
    'root:x:0:0:root:/root:/bin/bash',
    'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
    'sync:x:4:65534:sync:/bin:/bin/sync',
    'sshd:x:100:65534::/run/sshd:/usr/sbin/nologin',
    'alice:x:1000:1000:Alice:/home/alice:/bin/bash',
    '',
  ].join('\n'),
  '/etc/shadow': ['root:$y$j9T$salt$hash:19700:0:99999:7:::', 'daemon:*:19700:0:99999:7:::', 'sync:*:19700::::::', 'sshd:!:19700::::::', 'alice:$6$salt$hash:19700:1:365:7:::', ''].join(
    '\n',
  ),
  '/etc/group': ['root:x:0:', 'daemon:x:1:', 'alice:x:1000:', ''].join('\n'),
  '/etc/gshadow': ['root:*::', 'daemon:*::', 'alice:!::', ''].join('\n'),
};

async function check(t: { after(fn: () => Promise<void>): void }, assertion: AccountAssertion, files: Record<string, string> = {}) {
  const root = await makeFixtureTree({ ...CLEAN, ...files });
  t.after(() => removeFixtureTree(root));
  return ACCOUNTS_RULE.evaluate(AccountsRuleSchema.parse({ accounts: assertion }), fixtureContext(root));
}

const replaceLine = (file: keyof typeof CLEAN, from: string, to: string): Record<string, string> => ({ [file]: CLEAN[file].replace(from, to) });

test('every assertion holds on a clean Debian account database', async (t) => {
  for (const assertion of ACCOUNT_ASSERTIONS) assert.equal((await check(t, assertion)).result, true, assertion);
  assert.deepEqual(await check(t, 'only_root_uid_0'), { result: true, evidence: 'only root has UID 0 (/etc/passwd)' });
});

test('only_root_uid_0 names the extra UID 0 account with file and line', async (t) => {
  const files = { '/etc/passwd': `${CLEAN['/etc/passwd']}toor:x:0:0::/root:/bin/sh\n` };
  assert.deepEqual(await check(t, 'only_root_uid_0', files), { result: false, evidence: 'toor has UID 0 (/etc/passwd:6)' });
});

test('no_empty_passwords looks at shadow and passwd', async (t) => {
  assert.deepEqual(await check(t, 'no_empty_passwords', replaceLine('/etc/shadow', 'alice:$6$salt$hash', 'alice:')), {
    result: false,
    evidence: 'alice has an empty password (/etc/shadow:5)',
  });
  assert.deepEqual(await check(t, 'no_empty_passwords', replaceLine('/etc/passwd', 'daemon:x:', 'daemon::')), {
    result: false,
    evidence: 'daemon has an empty password (/etc/passwd:2)',
  });
});

test('duplicate uids, gids, user names and group names are reported with both lines', async (t) => {
  const dupUid = { '/etc/passwd': `${CLEAN['/etc/passwd']}bob:x:1000:1000::/home/bob:/bin/bash\n` };
  assert.deepEqual(await check(t, 'no_duplicate_uids', dupUid), {
    result: false,
    evidence: 'UID 1000 shared by alice (/etc/passwd:5) and bob (/etc/passwd:6)',
  });
  // A second UID 0 is only_root_uid_0's to report.
  assert.equal((await check(t, 'no_duplicate_uids', { '/etc/passwd': `${CLEAN['/etc/passwd']}toor:x:0:0::/root:/bin/sh\n` })).result, true);
  const dupGid = { '/etc/group': `${CLEAN['/etc/group']}staff:x:1:\n` };
  assert.deepEqual(await check(t, 'no_duplicate_gids', dupGid), { result: false, evidence: 'GID 1 shared by daemon (/etc/group:2) and staff (/etc/group:4)' });
  const dupUser = { '/etc/passwd': `${CLEAN['/etc/passwd']}alice:x:1001:1001::/home/a2:/bin/bash\n` };
  assert.deepEqual(await check(t, 'no_duplicate_user_names', dupUser), {
    result: false,
    evidence: 'user name alice shared by alice (/etc/passwd:5) and alice (/etc/passwd:6)',
  });
  const dupGroup = { '/etc/group': `${CLEAN['/etc/group']}alice:x:1001:\n` };
  assert.equal((await check(t, 'no_duplicate_group_names', dupGroup)).evidence, 'group name alice shared by alice (/etc/group:3) and alice (/etc/group:4)');
});

test('shadowed_passwords and strong_password_hashes', async (t) => {
  assert.deepEqual(await check(t, 'shadowed_passwords', replaceLine('/etc/passwd', 'alice:x:', 'alice:$1$abc$def:')), {
    result: false,
    evidence: 'alice does not use /etc/shadow (password field is not "x") (/etc/passwd:5)',
  });
  assert.deepEqual(await check(t, 'strong_password_hashes', replaceLine('/etc/shadow', 'alice:$6$salt$hash', 'alice:$1$salt$hash')), {
    result: false,
    evidence: 'alice has a weak password hash ($1$s…) (/etc/shadow:5)',
  });
  // Empty fields are no_empty_passwords' finding; a locked hash is no hash.
  assert.equal((await check(t, 'strong_password_hashes', replaceLine('/etc/shadow', 'alice:$6$salt$hash', 'alice:'))).result, true);
  assert.equal((await check(t, 'strong_password_hashes', replaceLine('/etc/shadow', 'alice:$6$salt$hash', 'alice:!$1$salt$hash'))).result, true);
});

test('system_accounts_no_login exempts root, sync, shutdown and halt', async (t) => {
  assert.deepEqual(await check(t, 'system_accounts_no_login', replaceLine('/etc/passwd', '/run/sshd:/usr/sbin/nologin', '/run/sshd:/bin/sh')), {
    result: false,
    evidence: 'system account sshd (UID 100) has login shell /bin/sh (/etc/passwd:4)',
  });
});

test('root_primary_group_0 and no_legacy_plus_entries', async (t) => {
  assert.deepEqual(await check(t, 'root_primary_group_0', replaceLine('/etc/passwd', 'root:x:0:0:', 'root:x:0:10:')), {
    result: false,
    evidence: 'root has primary GID 10 (/etc/passwd:1)',
  });
  assert.deepEqual(await check(t, 'no_legacy_plus_entries', { '/etc/group': `${CLEAN['/etc/group']}+::::\n` }), {
    result: false,
    evidence: 'legacy NIS entry "+" (/etc/group:4)',
  });
});

test('an assertion whose database is missing does not apply', async (t) => {
  const root = await makeFixtureTree({ '/etc/passwd': CLEAN['/etc/passwd'] });
  t.after(() => removeFixtureTree(root));
  const outcome = await ACCOUNTS_RULE.evaluate(AccountsRuleSchema.parse({ accounts: 'strong_password_hashes' }), fixtureContext(root));
  assert.deepEqual(outcome, { result: 'not_applicable', evidence: '/etc/shadow not found' });
  assert.equal(AccountsRuleSchema.safeParse({ accounts: 'no_such_assertion' }).success, false);
});
