import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WITHHELD, isWellKnownSecretFile, redactEvidence } from './redact.js';

const SHA512 = '$6$rounds=5000$Xq3FZ0lE$kVxH0p1Kk8tqfV4m2Qq1x9hL0aZ3jQ7bYc2d5e6f7g8h9i0j1k2l3m4n5o6p7q8r9s0t1u2v3w4x5y6z7A8B9';
const YESCRYPT = '$y$j9T$Fm8PZ2C3r7a0yXkWcVQb1.$u2mYQz0a4pXk3Lr8H5dT7vJ9sN1bQ6wE0cF2gR4hK';
const PEM_BODY = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj';

describe('redactEvidence', () => {
  it('leaves ordinary evidence exactly as it is', () => {
    for (const text of [
      '/etc/ssh/sshd_config:14: PermitRootLogin yes',
      'PermitRootLogin not set; default prohibit-password',
      '/etc/shadow mode 0640, owner root, group shadow',
      '/etc/login.defs:1: PASS_MAX_DAYS   90',
      'no line of /etc/login.defs matches n:^PASS_MAX_DAYS\\s*(\\d+) compare <= 60 (line 1: PASS_MAX_DAYS   90)',
      '/etc/pam.d/common-password:1: password [success=1 default=ignore] pam_unix.so obscure yescrypt',
      // Long paths are made of short parts, after a slash or a dot.
      '/usr/lib/x86_64-linux-gnu/security/pam_unix.so found under /usr/lib/x86_64-linux-gnu/security/pam_faillock.so',
      '/etc/systemd/system/multi-user.target.wants/unattended-upgrades.service',
      '/etc/ssh/sshd_config.d/50-cloud-init-generated-by-the-provisioner/override.conf:2: PasswordAuthentication no',
      'unattended-upgrades-download-and-install-everything is enabled',
      'KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group14-sha1',
      'process 812 sshd is running: sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups',
      'https://www.cisecurity.org/benchmark/debian_linux/very/long/path/of/many/parts',
      // The public half of a host key is not a secret file, and a short hash prefix names only the method.
      '/etc/ssh/ssh_host_ed25519_key.pub mode 0644, owner root, group root',
      'alice has an empty password (/etc/shadow:12)',
      '31 characters: abcdefghijklmnopqrstuvwxyz01234',
      'UUID=123e4567-e89b-12d3-a456-426614174000 /srv ext4 defaults,nodev 0 2',
      'GRUB_CMDLINE_LINUX_DEFAULT_FOR_THE_2ND_KERNEL_ENTRY is set',
    ]) {
      assert.equal(redactEvidence(text), text);
    }
    // A location without a line's content is no secret file's content.
    assert.equal(redactEvidence('bob has a weak password hash ($1$a…) (/etc/shadow:3)'), 'bob has a weak password hash ($1$[redacted]) (/etc/shadow:3)');
  });

  it('withholds the lines of well-known secret files, keeping where they are', () => {
    assert.equal(redactEvidence(`/etc/shadow:1: root:${SHA512}:19800:0:99999:7:::`), `/etc/shadow:1: ${WITHHELD}`);
    assert.equal(redactEvidence('/etc/shadow:2: daemon:*:19800:0:99999:7:::'), `/etc/shadow:2: ${WITHHELD}`);
    assert.equal(redactEvidence('/etc/gshadow:4: sudo:!::alice'), `/etc/gshadow:4: ${WITHHELD}`);
    assert.equal(redactEvidence('/etc/shadow-:1: root:x'), `/etc/shadow-:1: ${WITHHELD}`);
    assert.equal(redactEvidence('/etc/gshadow-:1: root:x'), `/etc/gshadow-:1: ${WITHHELD}`);
    assert.equal(redactEvidence(`/etc/ssh/ssh_host_ed25519_key:2: ${PEM_BODY}`), `/etc/ssh/ssh_host_ed25519_key:2: ${WITHHELD}`);
    assert.equal(redactEvidence('/etc/ssh/ssh_host_rsa_key:1: -----BEGIN OPENSSH PRIVATE KEY-----'), `/etc/ssh/ssh_host_rsa_key:1: ${WITHHELD}`);
    assert.equal(redactEvidence('/etc/ssl/private/db/server.key:7: password=hunter2'), `/etc/ssl/private/db/server.key:7: ${WITHHELD}`);
    // A near miss shows the closest line: withheld too, the pattern (the policy's own text) kept.
    assert.equal(
      redactEvidence(`no line of /etc/shadow matches n:^[\\w@-]+:\\$.*:\\d+:(\\d+): compare == 0 (line 1: root:${YESCRYPT}:19800:1:365:7:::)`),
      `no line of /etc/shadow matches n:^[\\w@-]+:\\$.*:\\d+:(\\d+): compare == 0 (line 1: ${WITHHELD})`,
    );
    // Typed rules add a reason after the line: it goes with the line.
    assert.equal(redactEvidence('/etc/shadow:1: root:$6$abc (not in [x])'), `/etc/shadow:1: ${WITHHELD}`);
    // Each piece of joined evidence on its own: the others stay.
    assert.equal(
      redactEvidence('/etc/login.defs:3: PASS_MIN_DAYS\t1; /etc/shadow:1: root:!:19800:1:::; /etc/passwd:1: root:x:0:0:root:/root:/bin/bash'),
      `/etc/login.defs:3: PASS_MIN_DAYS\t1; /etc/shadow:1: ${WITHHELD}; /etc/passwd:1: root:x:0:0:root:/root:/bin/bash`,
    );
    // After other words.
    assert.equal(redactEvidence('missing noexec: /etc/shadow:9: x:y'), `missing noexec: /etc/shadow:9: ${WITHHELD}`);
  });

  it('treats a file with a private key block as a secret file, and any file the evaluation saw holding one', () => {
    assert.equal(redactEvidence('/root/.ssh/id_rsa:1: -----BEGIN RSA PRIVATE KEY-----'), `/root/.ssh/id_rsa:1: ${WITHHELD}`);
    assert.equal(redactEvidence('/srv/app/key.pem:1: -----BEGIN PRIVATE KEY-----; /srv/app/key.pem:2: MIIEvQ'), `/srv/app/key.pem:1: ${WITHHELD}; /srv/app/key.pem:2: ${WITHHELD}`);
    assert.equal(redactEvidence('/srv/app/key.pem:2: MIIEvQ', { secretFiles: ['/srv/app/key.pem'] }), `/srv/app/key.pem:2: ${WITHHELD}`);
    assert.equal(redactEvidence('no line of /srv/app/key.pem matches r:^x (line 2: MIIEvQ)', { secretFiles: new Set(['/srv/app/key.pem']) }), `no line of /srv/app/key.pem matches r:^x (line 2: ${WITHHELD})`);
    // A certificate is not a key.
    assert.equal(redactEvidence('/etc/ssl/certs/a.pem:1: -----BEGIN CERTIFICATE-----'), '/etc/ssl/certs/a.pem:1: -----BEGIN CERTIFICATE-----');
    assert.equal(redactEvidence('/srv/a:1: -----BEGIN PGP PRIVATE KEY BLOCK-----'), `/srv/a:1: ${WITHHELD}`);
  });

  it('replaces crypt(3) hashes up to the next colon or blank', () => {
    assert.equal(redactEvidence(`/srv/backup/shadow.bak:1: root:${SHA512}:19800:0:99999:7:::`), '/srv/backup/shadow.bak:1: root:$6$[redacted]:19800:0:99999:7:::');
    assert.equal(redactEvidence(`\`getent shadow root\`: root:${YESCRYPT}:19800::::::`), '`getent shadow root`: root:$y$[redacted]:19800::::::');
    for (const [hash, id] of [
      ['$1$saltsalt$qjXMvbEw8oaL.CzflDugX/', '1'],
      ['$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy', '2a'],
      ['$2b$12$KIXQJZ7lmT9yP1fC0e5oXeW5s1yY1bq1yJ1fWnKJ0G1m4o8n6bT0a', '2b'],
      ['$2y$10$abcdefghijklmnopqrstuuJ0uhY0bCqf0hZ1d9Ww3Q5vG5m6zQm1e', '2y'],
      ['$5$rounds=80000$wnsT7Yr92oJoP28r$cKhJImk5mfuSKV9b3mumNzlbstFUplKtQXXMo4G6Ep5', '5'],
      ['$7$CU..../....hzd6cIiEfLEmoBGvjH3PUVD1$XnP.Yc5Bx5WnGW/c6DB2tkIR6XWyxpQ1B3b5s7CEma3', '7'],
      ['$gy$j9T$abcdefghijklmnopqrstuv$0123456789abcdefghijklmnopqrstuvwxyzABCDE', 'gy'],
    ]) {
      assert.equal(redactEvidence(`hash ${hash} here`), `hash $${id}$[redacted] here`, hash);
    }
    assert.equal(redactEvidence('x:$6$abc,y'), 'x:$6$[redacted],y');
  });

  it('replaces runs of 32 or more base64, base64url or hex characters', () => {
    assert.equal(redactEvidence(`/srv/app/.env:3: API_TOKEN=${'a1B2'.repeat(10)}`), '/srv/app/.env:3: API_TOKEN=[redacted 40 chars]');
    assert.equal(redactEvidence('aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'), 'aws_secret_access_key = [redacted 40 chars]');
    assert.equal(redactEvidence(`machine id ${'0123456789abcdef'.repeat(2)}`), 'machine id [redacted 32 chars]');
    assert.equal(redactEvidence(`key body ${PEM_BODY}==`), 'key body [redacted 66 chars]');
    assert.equal(redactEvidence('jwt eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c'), 'jwt [redacted 36 chars].[redacted 46 chars].[redacted 43 chars]');
    // A slash-separated run that does not start like a path is no path.
    assert.equal(redactEvidence(`token ${'Ab1/'.repeat(10)}`), 'token [redacted 40 chars]');
  });

  it('comes through its own output unchanged', () => {
    for (const text of [`/etc/shadow:1: root:${SHA512}:1::`, `/x:1: root:${SHA512}:1:: ${PEM_BODY}`, `no line of /etc/gshadow matches r:x (line 2: a:b)`]) {
      const once = redactEvidence(text);
      assert.equal(redactEvidence(once), once);
    }
  });

  it('knows the well-known secret files by path', () => {
    for (const path of ['/etc/shadow', '/etc/gshadow', '/etc/shadow-', '/etc/gshadow-', '/etc/ssh/ssh_host_ecdsa_key', '/etc/ssl/private/a.key', '/etc/ssl/private/sub/b']) {
      assert.equal(isWellKnownSecretFile(path), true, path);
    }
    for (const path of ['/etc/passwd', '/etc/shadowsocks.json', '/etc/ssh/ssh_host_ecdsa_key.pub', '/etc/ssh/sshd_config', '/etc/ssl/private', '/etc/ssl/certs/a.pem']) {
      assert.equal(isWellKnownSecretFile(path), false, path);
    }
  });
});
