import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { splitCommandLine } from './command-line.js';

describe('splitCommandLine', () => {
  it('splits on blanks and keeps quoted text together, without a shell', () => {
    assert.deepEqual(splitCommandLine('dpkg-query -s  apache2 nginx'), ['dpkg-query', '-s', 'apache2', 'nginx']);
    assert.deepEqual(splitCommandLine(`sh -c "nft list ruleset | awk '/hook input/,/}/'"`), ['sh', '-c', "nft list ruleset | awk '/hook input/,/}/'"]);
    assert.deepEqual(splitCommandLine(`stat -Lc "%n %a %u %U %g %G" /etc/issue`), ['stat', '-Lc', '%n %a %u %U %g %G', '/etc/issue']);
    assert.deepEqual(splitCommandLine(`echo 'a "b"' "c \\"d\\" \\\\" e\\ f`), ['echo', 'a "b"', 'c "d" \\', 'e f']);
    assert.deepEqual(splitCommandLine(`grep -c ''`), ['grep', '-c', '']);
  });

  it('refuses unterminated quotes and empty commands', () => {
    assert.throws(() => splitCommandLine(`echo "abc`), /unterminated double quote/);
    assert.throws(() => splitCommandLine(`echo 'abc`), /unterminated single quote/);
    assert.throws(() => splitCommandLine('   '), /the command is empty/);
  });
});
