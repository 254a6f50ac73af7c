import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { getCiphers } from 'node:tls';
import { CIPHER_SUITES, describeSuite, suiteByCode, suitesForVersion } from './suites.js';

test('codes, IANA names and OpenSSL names are each unique', () => {
  for (const key of ['code', 'name', 'openssl'] as const) {
    const values = CIPHER_SUITES.map((s) => s[key]);
    assert.equal(new Set(values).size, values.length, key);
  }
});

test('classes and flags follow from the IANA name', () => {
  const expect = (code: number, fields: Partial<ReturnType<typeof describeSuite>>): void => {
    const suite = suiteByCode(code);
    assert.ok(suite, `0x${code.toString(16)}`);
    for (const [k, v] of Object.entries(fields)) assert.equal(suite[k as keyof typeof suite], v, `${suite.name}.${k}`);
  };
  expect(0x0001, { class: 'NULL', mac: 'MD5', anonymous: false });
  expect(0x0003, { class: 'EXPORT', export: true, cipher: 'RC4_40' });
  expect(0x0063, { class: 'EXPORT', keyExchange: 'DHE', authentication: 'DSS' });
  expect(0x0005, { class: 'RC4', name: 'TLS_RSA_WITH_RC4_128_SHA', openssl: 'RC4-SHA' });
  expect(0x0009, { class: 'DES' });
  expect(0x000a, { class: '3DES', openssl: 'DES-CBC3-SHA', mac: 'SHA1' });
  expect(0x001b, { class: '3DES', anonymous: true });
  expect(0x002f, { class: 'CBC', keyExchange: 'RSA', authentication: 'RSA', cipher: 'AES_128_CBC', mac: 'SHA1' });
  expect(0xc018, { class: 'CBC', anonymous: true, keyExchange: 'ECDH', authentication: 'anon' });
  expect(0xc015, { class: 'NULL', anonymous: true });
  expect(0xc02f, { class: 'AEAD', keyExchange: 'ECDHE', authentication: 'RSA', mac: 'AEAD' });
  expect(0xc0ad, { class: 'AEAD', cipher: 'AES_256_CCM' });
  expect(0xcca9, { class: 'AEAD', authentication: 'ECDSA' });
  expect(0x1303, { class: 'AEAD', keyExchange: 'any', minVersion: 'TLSv1.3' });
  expect(0xc01e, { keyExchange: 'SRP', authentication: 'RSA' });
  expect(0xc0aa, { keyExchange: 'DHE-PSK', authentication: 'PSK' });
  assert.throws(() => describeSuite(1, 'TLS_FOO_WITH_AES_128_CBC_SHA', 'x', 'TLSv1'), /unknown key exchange/);
  assert.throws(() => describeSuite(1, 'SSL_CK_RC4_128_WITH_MD5', 'x', 'SSLv3'), /cannot be read/);
});

test("every suite Node's OpenSSL knows is in the table", () => {
  const known = new Set(CIPHER_SUITES.map((s) => s.openssl.toLowerCase()));
  const missing = getCiphers().filter((name) => !known.has(name));
  assert.deepEqual(missing, []);
});

test('every suite the installed openssl can negotiate is in the table, with the same code and IANA name', (t) => {
  const run = spawnSync('openssl', ['ciphers', '-stdname', '-V', 'ALL:COMPLEMENTOFALL:@SECLEVEL=0'], { encoding: 'utf8' });
  if (run.error !== undefined || run.status !== 0) {
    t.skip(`openssl is not available (${run.error?.message ?? `exit ${run.status}`})`);
    return;
  }
  const lines = run.stdout.split('\n').filter((l) => l.trim() !== '');
  assert.ok(lines.length > 50);
  for (const line of lines) {
    const m = /0x([0-9A-F]{2}),0x([0-9A-F]{2}) - (\S+)\s+- (\S+)/.exec(line);
    assert.ok(m?.[1] !== undefined && m[2] !== undefined, line);
    const code = parseInt(m[1] + m[2], 16);
    const suite = suiteByCode(code);
    assert.ok(suite, `missing ${line.trim()}`);
    assert.equal(suite.name, m[3]);
    assert.equal(suite.openssl, m[4]);
  }
});

test('each version is offered only the suites it can negotiate', () => {
  assert.deepEqual(
    suitesForVersion('TLSv1.3').map((s) => s.code),
    [0x1301, 0x1302, 0x1303, 0x1304, 0x1305],
  );
  const tls10 = suitesForVersion('TLSv1');
  assert.ok(tls10.some((s) => s.code === 0x002f));
  assert.ok(!tls10.some((s) => s.mac === 'AEAD' || (s.mac === 'SHA256' && s.keyExchange === 'ECDHE')), 'no TLS 1.2-only suites in TLS 1.0');
  assert.ok(!suitesForVersion('SSLv3').some((s) => s.keyExchange === 'ECDHE'), 'ECC suites start with TLS 1.0');
  const tls12 = suitesForVersion('TLSv1.2');
  assert.equal(tls12.length, CIPHER_SUITES.length - 5);
});
