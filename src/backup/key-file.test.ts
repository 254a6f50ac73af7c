import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { encodeRepositoryKeys, newRepositoryKeys } from './crypto.js';
import { checkNewCredential, parseKeyFile, unwrapRepositoryKeys, wrapRepositoryKeys, type Credential, type KeyFileJson } from './key-file.js';

/** The lowest cost a key file may carry: fast enough for tests (32 MiB, tens of milliseconds). */
const cheap = { log2N: 15, r: 8, p: 1 };
const meta = { host: 'db-1', user: 'root', now: new Date('2026-11-25T10:00:00.000Z') };
const password: Credential = { kind: 'password', password: 'correct horse battery' };
const keyFile: Credential = { kind: 'key-file', bytes: randomBytes(64) };
const material = encodeRepositoryKeys(newRepositoryKeys());

/** One password-wrapped file shared by the tests that only read it: each scrypt run costs a quarter second. */
let shared: Promise<KeyFileJson> | undefined;
function passwordFile(): Promise<KeyFileJson> {
  shared ??= wrapRepositoryKeys(material, password, meta, cheap);
  return shared;
}

function tampered(file: KeyFileJson, change: Partial<KeyFileJson>): KeyFileJson {
  return { ...file, ...change };
}

describe('key files', () => {
  it('wrap and unwrap the key material with a password; the stored header carries the cost and metadata', async () => {
    const file = await wrapRepositoryKeys(material, password, meta, cheap);
    assert.equal(file.v, 1);
    assert.equal(file.kdf, 'scrypt');
    assert.deepEqual([file.log2N, file.r, file.p], [15, 8, 1]);
    assert.equal(Buffer.from(file.salt, 'base64').length, 16);
    assert.equal(file.created, '2026-11-25T10:00:00.000Z');
    assert.equal(file.host, 'db-1');
    assert.equal(file.user, 'root');
    assert.ok(!JSON.stringify(file).includes(material.toString('base64')));
    assert.deepEqual(await unwrapRepositoryKeys(file, password), material);
  });

  it('wrap and unwrap with a key file (no scrypt cost stored)', async () => {
    const file = await wrapRepositoryKeys(material, keyFile, meta);
    assert.equal(file.kdf, 'hkdf');
    assert.equal(file.log2N, undefined);
    assert.deepEqual(await unwrapRepositoryKeys(file, keyFile), material);
  });

  it('two wraps of the same material under the same password use different salts', async () => {
    const a = await wrapRepositoryKeys(material, password, meta, cheap);
    const b = await wrapRepositoryKeys(material, password, meta, cheap);
    assert.notEqual(a.salt, b.salt);
    assert.notEqual(a.data, b.data);
  });

  it('survives the trip through JSON text', async () => {
    const file = await passwordFile();
    const parsed = parseKeyFile(Buffer.from(JSON.stringify(file)), 'k1');
    assert.deepEqual(await unwrapRepositoryKeys(parsed, password), material);
  });

  it('a wrong password or a wrong key file gives undefined', async () => {
    const byPassword = await passwordFile();
    assert.equal(await unwrapRepositoryKeys(byPassword, { kind: 'password', password: 'correct horse battery!' }), undefined);
    const byFile = await wrapRepositoryKeys(material, keyFile, meta);
    assert.equal(await unwrapRepositoryKeys(byFile, { kind: 'key-file', bytes: randomBytes(64) }), undefined);
  });

  it('a password never opens a key-file key, and a key file never opens a password key', async () => {
    // The same secret bytes as both kinds of credential.
    const secret = 'x'.repeat(40);
    const asPassword: Credential = { kind: 'password', password: secret };
    const asFile: Credential = { kind: 'key-file', bytes: Buffer.from(secret) };
    const byFile = await wrapRepositoryKeys(material, asFile, meta);
    const byPassword = await wrapRepositoryKeys(material, asPassword, meta, cheap);
    assert.equal(await unwrapRepositoryKeys(byFile, asPassword), undefined);
    assert.equal(await unwrapRepositoryKeys(byPassword, asFile), undefined);
    assert.deepEqual(await unwrapRepositoryKeys(byFile, asFile), material);
    assert.deepEqual(await unwrapRepositoryKeys(byPassword, asPassword), material);
  });

  it('normalises the password to NFC: composed and decomposed forms open alike', async () => {
    const composed: Credential = { kind: 'password', password: 'caf\u00e9 au lait' };
    const decomposed: Credential = { kind: 'password', password: 'cafe\u0301 au lait' };
    const file = await wrapRepositoryKeys(material, decomposed, meta, cheap);
    assert.deepEqual(await unwrapRepositoryKeys(file, composed), material);
  });

  it('a stored cost outside the accepted bounds is refused before any work', async () => {
    const file = await passwordFile();
    for (const change of [{ log2N: 14 }, { log2N: 21 }, { r: 0 }, { r: 33 }, { p: 5 }, { log2N: 15.5 }]) {
      await assert.rejects(unwrapRepositoryKeys(tampered(file, change), password), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'REPOSITORY_DAMAGED', JSON.stringify(change));
        assert.match(err.message, /outside what Bulwark accepts/);
        return true;
      });
    }
  });

  it('a stored cost changed within the bounds fails to open (the cost is authenticated)', async () => {
    const file = await wrapRepositoryKeys(material, password, meta, { log2N: 16, r: 8, p: 1 });
    assert.equal(await unwrapRepositoryKeys(tampered(file, { log2N: 15 }), password), undefined);
    assert.equal(await unwrapRepositoryKeys(tampered(file, { r: 4 }), password), undefined);
  });

  it('a changed salt, creation time, host or user fails to open', async () => {
    const file = await passwordFile();
    const changes: Partial<KeyFileJson>[] = [{ salt: randomBytes(16).toString('base64') }, { created: '2026-11-25T10:00:00.001Z' }, { host: 'db-2' }, { user: 'mallory' }];
    for (const change of changes) assert.equal(await unwrapRepositoryKeys(tampered(file, change), password), undefined, JSON.stringify(change));
    const byFile = await wrapRepositoryKeys(material, keyFile, meta);
    assert.equal(await unwrapRepositoryKeys(tampered(byFile, { salt: randomBytes(16).toString('base64') }), keyFile), undefined);
    assert.equal(await unwrapRepositoryKeys(tampered(byFile, { host: 'elsewhere' }), keyFile), undefined);
  });

  it('a key file switched from hkdf to scrypt does not open', async () => {
    const byFile = await wrapRepositoryKeys(material, keyFile, meta);
    const forged = tampered(byFile, { kdf: 'scrypt', ...cheap });
    assert.equal(await unwrapRepositoryKeys(forged, password), undefined);
    assert.equal(await unwrapRepositoryKeys(forged, keyFile), undefined);
  });

  it('a flipped byte in the sealed data fails to open', async () => {
    const file = await passwordFile();
    const data = Buffer.from(file.data, 'base64');
    data[20] = (data[20] as number) ^ 0x80;
    assert.equal(await unwrapRepositoryKeys(tampered(file, { data: data.toString('base64') }), password), undefined);
  });

  it('refuses passwords shorter than 8 characters and key files shorter than 32 bytes with BAD_REQUEST', async () => {
    for (const credential of [{ kind: 'password', password: '' }, { kind: 'password', password: 'seven77' }, { kind: 'key-file', bytes: Buffer.alloc(0) }, { kind: 'key-file', bytes: randomBytes(31) }] satisfies Credential[]) {
      assert.throws(() => checkNewCredential(credential), { code: 'BAD_REQUEST' });
      await assert.rejects(wrapRepositoryKeys(material, credential, meta, cheap), { code: 'BAD_REQUEST' });
    }
    // Characters, not UTF-16 units: eight emoji are eight characters, four are not enough though they are eight units.
    assert.throws(() => checkNewCredential({ kind: 'password', password: '\u{1f511}'.repeat(4) }), { code: 'BAD_REQUEST' });
    checkNewCredential({ kind: 'password', password: 'eight888' });
    checkNewCredential({ kind: 'key-file', bytes: randomBytes(32) });
  });

  it('counts the characters of a password after NFC normalisation, as it is stretched', () => {
    // Four accented letters typed decomposed are eight code points, but four characters once normalised.
    assert.throws(() => checkNewCredential({ kind: 'password', password: 'e\u0301'.repeat(4) }), { code: 'BAD_REQUEST' });
    checkNewCredential({ kind: 'password', password: 'e\u0301'.repeat(8) });
  });

  it('refuses to wrap under a cost outside the bounds', async () => {
    await assert.rejects(wrapRepositoryKeys(material, password, meta, { log2N: 14, r: 8, p: 1 }), { code: 'REPOSITORY_DAMAGED' });
  });

  it('parseKeyFile refuses anything that is not a key file with REPOSITORY_DAMAGED, naming it', async () => {
    const good = await wrapRepositoryKeys(material, keyFile, meta);
    const garbage = [
      Buffer.from('not json'),
      Buffer.from([0xff, 0xfe, 0x00]),
      Buffer.from(''),
      Buffer.from('null'),
      Buffer.from('[]'),
      Buffer.from('42'),
      Buffer.from(JSON.stringify({ ...good, v: 2 })),
      Buffer.from(JSON.stringify({ ...good, kdf: 'argon2' })),
      Buffer.from(JSON.stringify({ ...good, salt: 7 })),
      Buffer.from(JSON.stringify({ ...good, data: undefined })),
      Buffer.from(JSON.stringify({ ...good, host: null })),
    ];
    for (const bytes of garbage) {
      assert.throws(() => parseKeyFile(bytes, 'k-0042'), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'REPOSITORY_DAMAGED', bytes.toString());
        assert.match(err.message, /k-0042/);
        return true;
      });
    }
  });
});
