/**
 * OpenSSH user certificates (PROTOCOL.certkeys, `*-cert-v01@openssh.com`) signed
 * by the cluster's Ed25519 SSH CA, and a parser that verifies them again.
 *
 * Layout of a certificate, every field an RFC 4251 encoding:
 *   string type · string nonce · <the key's own fields> · uint64 serial ·
 *   uint32 cert type · string key id · string principals · uint64 valid after ·
 *   uint64 valid before · string critical options · string extensions ·
 *   string reserved · string CA key · string signature
 * The signature covers every byte before it.
 */
import { randomBytes, sign, verify } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';
import {
  decodeSshPublicKeyBlob,
  loadSshCaPrivateKey,
  parseSshPublicKey,
  readSshKeyFields,
  sshCaPublicKeyFromPrivate,
  sshFingerprint,
  SSH_KEY_TYPES,
  type DecodedSshKey,
  type SshKeyType,
  type SshPublicKey,
} from './ssh-keys.js';
import { SshReader, SshWriter } from './ssh-wire.js';

export { sshCaFingerprint } from './ssh-keys.js';

const CERT_SUFFIX = '-cert-v01@openssh.com';
const USER_CERT = 1;
const HOST_CERT = 2;
const NONCE_BYTES = 32;
/** sshd refuses certificates with more principals than this (SSHKEY_CERT_MAX_PRINCIPALS). */
export const MAX_SSH_PRINCIPALS = 256;
const MAX_ID_CHARS = 1024;
/** `valid before` of a certificate that never expires. */
const FOREVER = (1n << 64n) - 1n;

/**
 * What Teleport grants by default: a terminal, port and agent forwarding. X11
 * forwarding and `~/.ssh/rc` stay off unless a caller asks for them.
 */
export const DEFAULT_SSH_EXTENSIONS: readonly string[] = ['permit-agent-forwarding', 'permit-port-forwarding', 'permit-pty'];

export interface SignSshUserCertificateOptions {
  caPrivateKeyPem: string;
  /** The CA's `ssh-ed25519 …` line; checked against the private key. */
  caPublicKey: string;
  /** The user's public key, parsed or as its `.pub` line. */
  publicKey: SshPublicKey | string;
  /** Names the person; sshd logs it on every login made with the certificate. */
  keyId: string;
  /** The login names allowed; never empty, since an empty list means "any user" to sshd. */
  principals: readonly string[];
  /** Milliseconds since the epoch; the certificate carries whole seconds. */
  validAfter: number;
  validBefore: number;
  /** 0 ≤ serial < 2^64; lets a KRL revoke the certificate. */
  serial: bigint;
  /** Flag extensions such as `permit-pty`; default {@link DEFAULT_SSH_EXTENSIONS}. */
  extensions?: readonly string[];
  /**
   * e.g. `{ 'force-command': '/usr/bin/true', 'source-address': '10.0.0.0/8' }`.
   * An empty value encodes a flag option (`verify-required`).
   */
  criticalOptions?: Readonly<Record<string, string>>;
}

export interface SshCertificate {
  /** e.g. `ssh-ed25519-cert-v01@openssh.com`. */
  type: string;
  keyType: SshKeyType;
  /** The certified public key's blob and fingerprint. */
  publicKeyBlob: Buffer;
  publicKeyFingerprint: string;
  nonce: Buffer;
  serial: bigint;
  certType: 'user' | 'host';
  keyId: string;
  principals: string[];
  /** Milliseconds since the epoch (0: valid from the beginning of time). */
  validAfter: number;
  /** Milliseconds since the epoch; Infinity for a certificate that never expires. */
  validBefore: number;
  criticalOptions: Record<string, string>;
  extensions: string[];
  /** The signing CA's public key line, without a comment. */
  caPublicKey: string;
  caFingerprint: string;
  comment?: string;
}

function invalidInput(message: string): BulwarkError {
  return new BulwarkError('BAD_REQUEST', message);
}

function invalidCert(message: string): BulwarkError {
  return new BulwarkError('INVALID_SSH_KEY', message);
}

/** Control characters in a key id or principal could forge lines in sshd's log or our own. */
function checkName(value: string, what: string, opts: { spaces: boolean; commas: boolean }): void {
  if (typeof value !== 'string' || value.length === 0) throw invalidInput(`${what} must not be empty`);
  if (value.length > MAX_ID_CHARS) throw invalidInput(`${what} is longer than ${MAX_ID_CHARS} characters`);
  if (/[\x00-\x1f\x7f]/.test(value)) throw invalidInput(`${what} must not contain control characters`);
  if (!opts.spaces && /\s/.test(value)) throw invalidInput(`${what} must not contain spaces`);
  if (!opts.commas && value.includes(',')) throw invalidInput(`${what} must not contain commas`);
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** Whole seconds, rounded down; a negative or fractional-looking input is a caller bug. */
function toSeconds(ms: number, what: string): bigint {
  if (!Number.isFinite(ms) || ms < 0) throw invalidInput(`${what} must be a time in milliseconds since the epoch`);
  return BigInt(Math.floor(ms / 1000));
}

function toMs(seconds: bigint): number {
  if (seconds === FOREVER) return Infinity;
  const ms = Number(seconds) * 1000;
  return Number.isSafeInteger(ms) ? ms : Infinity;
}

/** A name → data map as the certificate holds it, sorted by name as PROTOCOL.certkeys requires. */
function encodeOptions(entries: [string, Buffer][]): Buffer {
  const sorted = [...entries].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const writer = new SshWriter();
  for (const [name, data] of sorted) writer.string(name).string(data);
  return writer.toBuffer();
}

/**
 * Signs an OpenSSH user certificate for `publicKey` and returns its one-line form
 * `<type>-cert-v01@openssh.com <base64> <keyId>`, ready to save as `id_*-cert.pub`.
 */
export function signSshUserCertificate(opts: SignSshUserCertificateOptions): string {
  const key = typeof opts.publicKey === 'string' ? parseSshPublicKey(opts.publicKey) : opts.publicKey;
  // A parsed key may have been built or altered by the caller: check its blob again.
  if (typeof opts.publicKey !== 'string') decodeSshPublicKeyBlob(key.blob, 'the public key', key.type);
  const caKey = loadSshCaPrivateKey(opts.caPrivateKeyPem);
  const caBlob = parseSshPublicKey(opts.caPublicKey).blob;
  if (!parseSshPublicKey(sshCaPublicKeyFromPrivate(opts.caPrivateKeyPem)).blob.equals(caBlob)) {
    throw new BulwarkError('KEY_FILE_INVALID', 'the SSH CA public key does not belong to the SSH CA private key');
  }

  checkName(opts.keyId, 'the key id', { spaces: true, commas: true });
  if (!Array.isArray(opts.principals) || opts.principals.length === 0) {
    throw invalidInput('a certificate needs at least one principal: sshd would accept one without any for every user');
  }
  const principals = unique(opts.principals);
  for (const p of principals) checkName(p, `principal ${JSON.stringify(p)}`, { spaces: false, commas: false });
  if (principals.length > MAX_SSH_PRINCIPALS) throw invalidInput(`a certificate holds at most ${MAX_SSH_PRINCIPALS} principals`);

  const validAfter = toSeconds(opts.validAfter, 'validAfter');
  const validBefore = toSeconds(opts.validBefore, 'validBefore');
  if (validBefore <= validAfter) throw invalidInput('validBefore must be at least one second after validAfter');
  if (typeof opts.serial !== 'bigint' || opts.serial < 0n || opts.serial >= 1n << 64n) {
    throw invalidInput('the serial must be a bigint in [0, 2^64)');
  }

  const extensions = unique(opts.extensions ?? DEFAULT_SSH_EXTENSIONS);
  for (const e of extensions) checkName(e, `extension ${JSON.stringify(e)}`, { spaces: false, commas: false });
  const critical = Object.entries(opts.criticalOptions ?? {});
  for (const [name] of critical) checkName(name, `critical option ${JSON.stringify(name)}`, { spaces: false, commas: false });

  // The key's own fields are its blob minus the leading type name.
  const keyReader = new SshReader(key.blob, 'the public key');
  keyReader.text();
  const keyFields = key.blob.subarray(keyReader.offset);

  const principalsBlob = new SshWriter();
  for (const p of principals) principalsBlob.string(p);

  const certType = `${key.type}${CERT_SUFFIX}`;
  const body = new SshWriter()
    .string(certType)
    .string(randomBytes(NONCE_BYTES))
    .raw(keyFields)
    .uint64(opts.serial)
    .uint32(USER_CERT)
    .string(opts.keyId)
    .string(principalsBlob.toBuffer())
    .uint64(validAfter)
    .uint64(validBefore)
    // Critical option data is itself a string (force-command: string command); a flag has none.
    .string(encodeOptions(critical.map(([name, value]) => [name, value === '' ? Buffer.alloc(0) : new SshWriter().string(value).toBuffer()])))
    .string(encodeOptions(extensions.map((name) => [name, Buffer.alloc(0)])))
    .string('') // reserved
    .string(caBlob)
    .toBuffer();
  const signature = new SshWriter().string('ssh-ed25519').string(sign(null, body, caKey)).toBuffer();
  const cert = new SshWriter().raw(body).string(signature).toBuffer();
  return `${certType} ${cert.toString('base64')} ${opts.keyId}`;
}

/** name → data pairs; duplicates are refused so one name cannot mean two things. */
function readOptions(blob: Buffer, what: string): Map<string, Buffer> {
  const reader = new SshReader(blob, `the certificate's ${what}`);
  const out = new Map<string, Buffer>();
  while (reader.remaining > 0) {
    const name = reader.text(`a ${what} name`);
    const data = reader.string(`the data of ${what} ${name}`);
    if (out.has(name)) throw invalidCert(`the certificate lists ${what} ${JSON.stringify(name)} twice`);
    out.set(name, data);
  }
  return out;
}

const ECDSA_HASH: Record<string, { hash: string; bytes: number }> = {
  'ecdsa-sha2-nistp256': { hash: 'sha256', bytes: 32 },
  'ecdsa-sha2-nistp384': { hash: 'sha384', bytes: 48 },
  'ecdsa-sha2-nistp521': { hash: 'sha512', bytes: 66 },
};
/** SHA-1 `ssh-rsa` signatures are left out, as OpenSSH's default CASignatureAlgorithms does. */
const RSA_HASH: Record<string, string> = { 'rsa-sha2-256': 'sha256', 'rsa-sha2-512': 'sha512' };

function verifySignature(ca: DecodedSshKey, data: Buffer, signatureBlob: Buffer): boolean {
  const reader = new SshReader(signatureBlob, 'the certificate signature');
  const alg = reader.text('the signature algorithm');
  const sig = reader.string('the signature');
  reader.end();
  if (ca.type === 'ssh-ed25519') return alg === 'ssh-ed25519' && verify(null, data, ca.key, sig);
  if (ca.type === 'ssh-rsa') {
    const hash = RSA_HASH[alg];
    return hash !== undefined && verify(hash, data, ca.key, sig);
  }
  const ec = ECDSA_HASH[ca.type];
  if (ec === undefined || alg !== ca.type) return false;
  // An ECDSA signature is (mpint r, mpint s); node wants r ‖ s, each padded to the curve size.
  const rs = new SshReader(sig, 'the ECDSA signature');
  const parts = [rs.mpint('r'), rs.mpint('s')];
  rs.end();
  const raw: Buffer[] = [];
  for (const v of parts) {
    if (v <= 0n) return false;
    const hex = v.toString(16).padStart(ec.bytes * 2, '0');
    if (hex.length > ec.bytes * 2) return false;
    raw.push(Buffer.from(hex, 'hex'));
  }
  return verify(ec.hash, data, { key: ca.key, dsaEncoding: 'ieee-p1363' }, Buffer.concat(raw));
}

/**
 * Parses a certificate line (`ssh-keygen -L` for programs) and verifies its
 * signature against the CA key it names. It does not decide whether that CA is
 * trusted: compare `caFingerprint` with the one you trust.
 */
export function parseSshCertificate(line: string): SshCertificate {
  if (typeof line !== 'string' || line.length > 65_536) throw invalidCert('an SSH certificate must be one line of text');
  const match = /^(\S+)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line.trim());
  const type = match?.[1] ?? '';
  const keyType = type.endsWith(CERT_SUFFIX) ? type.slice(0, -CERT_SUFFIX.length) : '';
  if (!(SSH_KEY_TYPES as readonly string[]).includes(keyType) || match?.[2] === undefined) {
    throw invalidCert('not an OpenSSH certificate line (`<type>-cert-v01@openssh.com <base64> [comment]`)');
  }
  const base64 = match[2];
  const bytes = Buffer.from(base64, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || bytes.toString('base64') !== base64) {
    throw invalidCert('the certificate data is not valid base64 (was the line cut or wrapped?)');
  }

  const reader = new SshReader(bytes, 'the certificate');
  const inner = reader.text('the certificate type');
  if (inner !== type) throw invalidCert(`the certificate line says ${type} but its data holds ${JSON.stringify(inner)}`);
  const nonce = reader.string('the nonce');
  const keyStart = reader.offset;
  readSshKeyFields(reader, keyType as SshKeyType, 'the certified key');
  const publicKeyBlob = new SshWriter().string(keyType).raw(bytes.subarray(keyStart, reader.offset)).toBuffer();
  const serial = reader.uint64('the serial');
  const certTypeNumber = reader.uint32('the certificate type');
  if (certTypeNumber !== USER_CERT && certTypeNumber !== HOST_CERT) throw invalidCert(`unknown certificate type ${certTypeNumber}`);
  const keyId = reader.text('the key id');
  const principalsReader = new SshReader(reader.string('the principals'), "the certificate's principals");
  const principals: string[] = [];
  while (principalsReader.remaining > 0) principals.push(principalsReader.text('a principal'));
  const validAfter = reader.uint64('valid after');
  const validBefore = reader.uint64('valid before');
  const critical = readOptions(reader.string('the critical options'), 'critical option');
  const extensions = readOptions(reader.string('the extensions'), 'extension');
  reader.string('the reserved field');
  const caBlob = reader.string('the CA key');
  const signedLength = reader.offset;
  const signature = reader.string('the signature');
  reader.end();

  const ca = decodeSshPublicKeyBlob(caBlob, "the certificate's CA key");
  if (!verifySignature(ca, bytes.subarray(0, signedLength), signature)) {
    throw invalidCert('the certificate signature does not verify against the CA key it names');
  }

  const criticalOptions: Record<string, string> = {};
  for (const [name, data] of critical) {
    if (data.length === 0) {
      criticalOptions[name] = '';
      continue;
    }
    const r = new SshReader(data, `critical option ${name}`);
    criticalOptions[name] = r.text('its value');
    r.end();
  }
  const comment = match[3]?.trim();
  return {
    type,
    keyType: keyType as SshKeyType,
    publicKeyBlob,
    publicKeyFingerprint: sshFingerprint(publicKeyBlob),
    nonce,
    serial,
    certType: certTypeNumber === USER_CERT ? 'user' : 'host',
    keyId,
    principals,
    validAfter: toMs(validAfter),
    validBefore: toMs(validBefore),
    criticalOptions,
    extensions: [...extensions.keys()],
    caPublicKey: `${ca.type} ${caBlob.toString('base64')}`,
    caFingerprint: sshFingerprint(caBlob),
    ...(comment ? { comment } : {}),
  };
}
