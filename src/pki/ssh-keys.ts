/**
 * OpenSSH public keys in the one-line `authorized_keys` form (`type base64 comment`)
 * and the cluster's Ed25519 SSH user CA. The key blobs follow RFC 4253 §6.6
 * (ssh-rsa), RFC 5656 §3.1 (ecdsa-sha2-*) and RFC 8709 §4 (ssh-ed25519).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { BulwarkError } from '../core/errors.js';
import { SshReader, SshWriter } from './ssh-wire.js';

export type SshKeyType = 'ssh-ed25519' | 'ecdsa-sha2-nistp256' | 'ecdsa-sha2-nistp384' | 'ecdsa-sha2-nistp521' | 'ssh-rsa';

export const SSH_KEY_TYPES: readonly SshKeyType[] = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'];

export interface SshPublicKey {
  type: SshKeyType;
  /** The wire-format key blob, exactly what the base64 field of the line decodes to. */
  blob: Buffer;
  comment?: string;
  /** `SHA256:<base64 without padding>`, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** Key size as `ssh-keygen -l` reports it (RSA modulus bits, curve size). */
  bits: number;
}

export interface SshCaKeyPair {
  /** `ssh-ed25519 AAAA… <comment>`, the line for sshd's `TrustedUserCAKeys`. */
  publicKey: string;
  /** PKCS#8 PEM. */
  privateKeyPem: string;
}

/** Below 2048 bits RSA is within reach of a determined attacker (NIST SP 800-131A). */
export const MIN_RSA_BITS = 2048;
/** OpenSSH's own upper limit; larger moduli only make a key a denial-of-service tool. */
export const MAX_RSA_BITS = 16384;
/** Far above any accepted key line (a 16384-bit RSA key is ~2.8 KB); stops huge pastes early. */
const MAX_LINE_CHARS = 16_384;

const ECDSA_CURVES = {
  'ecdsa-sha2-nistp256': { curve: 'nistp256', jwkCurve: 'P-256', coordBytes: 32, bits: 256 },
  'ecdsa-sha2-nistp384': { curve: 'nistp384', jwkCurve: 'P-384', coordBytes: 48, bits: 384 },
  'ecdsa-sha2-nistp521': { curve: 'nistp521', jwkCurve: 'P-521', coordBytes: 66, bits: 521 },
} as const;

const ACCEPTED = 'Ed25519, ECDSA (nistp256/384/521) or RSA of at least 2048 bits';

function invalid(message: string): BulwarkError {
  return new BulwarkError('INVALID_SSH_KEY', message);
}

/** Echoes a user's token in a message without letting it forge lines or flood the log. */
function quote(token: string): string {
  const clean = token.replace(/[^\x20-\x7e]/g, '?');
  return JSON.stringify(clean.length > 40 ? `${clean.slice(0, 40)}…` : clean);
}

function isKeyType(value: string): value is SshKeyType {
  return (SSH_KEY_TYPES as readonly string[]).includes(value);
}

export function sshFingerprint(blob: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function bigintBytes(value: bigint): Buffer {
  const hex = value.toString(16);
  return Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex');
}

function bitLength(value: bigint): number {
  return value === 0n ? 0 : value.toString(2).length;
}

export interface DecodedSshKey {
  type: SshKeyType;
  bits: number;
  /** The key as node:crypto uses it (importing it also proves the point or modulus well-formed). */
  key: KeyObject;
}

/**
 * Reads the type-specific fields of a key of type `type` from `reader`: the same
 * fields follow the type name in a public key blob and follow the nonce in a
 * certificate (PROTOCOL.certkeys), so one reader serves both.
 */
export function readSshKeyFields(reader: SshReader, type: SshKeyType, what: string): DecodedSshKey {
  if (type === 'ssh-ed25519') {
    const raw = reader.string('the Ed25519 key');
    if (raw.length !== 32) throw invalid(`${what} is malformed: an Ed25519 key is 32 bytes, not ${raw.length}`);
    return { type, bits: 256, key: importJwk({ kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, what) };
  }
  if (type === 'ssh-rsa') {
    const e = reader.mpint('the RSA exponent');
    const n = reader.mpint('the RSA modulus');
    if (n <= 0n || e <= 0n) throw invalid(`${what} is malformed: the RSA modulus and exponent must be positive`);
    const bits = bitLength(n);
    if (bits < MIN_RSA_BITS) {
      throw invalid(`${what} is a ${bits}-bit RSA key; at least ${MIN_RSA_BITS} bits are required: create a new key with \`ssh-keygen -t ed25519\``);
    }
    if (bits > MAX_RSA_BITS) throw invalid(`${what} is a ${bits}-bit RSA key; at most ${MAX_RSA_BITS} bits are accepted`);
    if (e < 3n || e % 2n === 0n) throw invalid(`${what} has an invalid RSA exponent`);
    const jwk = { kty: 'RSA', n: bigintBytes(n).toString('base64url'), e: bigintBytes(e).toString('base64url') };
    return { type, bits, key: importJwk(jwk, what) };
  }
  const curve = ECDSA_CURVES[type];
  const name = reader.text('the curve name');
  if (name !== curve.curve) throw invalid(`${what} is malformed: a ${type} key names curve ${quote(name)}`);
  const point = reader.string('the curve point');
  // OpenSSH writes only uncompressed points: 0x04 ‖ X ‖ Y.
  if (point.length !== 1 + 2 * curve.coordBytes || point[0] !== 0x04) {
    throw invalid(`${what} is malformed: the ${curve.curve} point is not an uncompressed point`);
  }
  const x = point.subarray(1, 1 + curve.coordBytes);
  const y = point.subarray(1 + curve.coordBytes);
  return { type, bits: curve.bits, key: importJwk({ kty: 'EC', crv: curve.jwkCurve, x: x.toString('base64url'), y: y.toString('base64url') }, what) };
}

function importJwk(jwk: Record<string, string>, what: string): KeyObject {
  try {
    return createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    throw invalid(`${what} is malformed: the key material is not a valid public key (e.g. a point not on the curve)`);
  }
}

/** Decodes a public key blob and checks its inner type name is `expectedType` when given. */
export function decodeSshPublicKeyBlob(blob: Uint8Array, what: string, expectedType?: string): DecodedSshKey {
  const reader = new SshReader(blob, what);
  const inner = reader.text('the key type');
  if (expectedType !== undefined && inner !== expectedType) {
    throw invalid(`${what} says ${quote(expectedType)} but its data holds a ${quote(inner)} key`);
  }
  if (!isKeyType(inner)) throw invalid(`${what} is of type ${quote(inner)}; accepted: ${ACCEPTED}`);
  const decoded = readSshKeyFields(reader, inner, what);
  reader.end();
  return decoded;
}

function refuseType(type: string): BulwarkError {
  if (type.endsWith('-cert-v01@openssh.com')) {
    return invalid('this is an SSH certificate, not a public key: give the public key it was made for (the .pub file without -cert)');
  }
  if (type === 'ssh-dss') return invalid(`DSA keys are not accepted (OpenSSH dropped them); use ${ACCEPTED}: \`ssh-keygen -t ed25519\``);
  if (type.startsWith('sk-')) return invalid(`security-key (FIDO) keys are not supported yet; use ${ACCEPTED}`);
  // An authorized_keys line may start with options such as `from="…"`, `no-pty` or `restrict`.
  if (/[="]/.test(type) || /^(no-|restrict|cert-authority|command|environment|permitopen|permitlisten|principals|tunnel|from|expiry-time|agent-forwarding|port-forwarding|pty|user-rc|x11-forwarding|verify-required|touch-required)/i.test(type)) {
    return invalid('authorized_keys options are not allowed: give only `type base64 [comment]`, as in your .pub file');
  }
  return invalid(`${quote(type)} is not an SSH public key type; give a .pub file (${ACCEPTED})`);
}

/**
 * Parses one public key line as `ssh-keygen` writes it (`~/.ssh/id_ed25519.pub`).
 * Refuses options, certificates, DSA, short RSA, private keys and anything whose
 * data does not match its declared type, each with a one-line reason.
 */
export function parseSshPublicKey(text: string): SshPublicKey {
  if (typeof text !== 'string') throw invalid('an SSH public key must be text');
  if (text.length > MAX_LINE_CHARS) throw invalid(`an SSH public key line is at most ${MAX_LINE_CHARS} characters`);
  const line = text.trim();
  if (line === '') throw invalid('the SSH public key is empty');
  if (line.includes('PRIVATE KEY')) throw invalid('this is a private key: never share it; give the public key (the .pub file) instead');
  if (line.startsWith('---- BEGIN SSH2 PUBLIC KEY')) {
    throw invalid('this is an RFC 4716 (SSH2) public key; convert it with `ssh-keygen -i -f FILE` and give the one-line form');
  }
  if (line.startsWith('-----BEGIN')) throw invalid('this is a PEM file; give the one-line OpenSSH public key (`ssh-keygen -y -f KEY` prints it)');
  if (/[\r\n]/.test(line)) throw invalid('give exactly one SSH public key line');
  const match = /^(\S+)(?:[ \t]+(\S+))?(?:[ \t]+(.*))?$/.exec(line);
  const type = match?.[1] ?? '';
  if (!isKeyType(type)) throw refuseType(type);
  const base64 = match?.[2];
  if (base64 === undefined) throw invalid(`the ${type} key has no key data after its type`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) {
    throw invalid(`the ${type} key data is not valid base64 (was the line cut or wrapped?)`);
  }
  const blob = Buffer.from(base64, 'base64');
  if (blob.toString('base64') !== base64) throw invalid(`the ${type} key data is not valid base64 (was the line cut or wrapped?)`);
  const decoded = decodeSshPublicKeyBlob(blob, `the ${type} key`, type);
  const comment = match?.[3]?.trim();
  return {
    type,
    blob,
    ...(comment ? { comment } : {}),
    fingerprint: sshFingerprint(blob),
    bits: decoded.bits,
  };
}

/**
 * The one-line OpenSSH form of a node:crypto public (or private) key: Ed25519,
 * ECDSA on P-256/384/521 or RSA. Lets code that makes keys with node:crypto hand
 * them to OpenSSH without ssh-keygen.
 */
export function formatSshPublicKey(key: KeyObject, comment = ''): string {
  if (/[\r\n]/.test(comment)) throw new BulwarkError('BAD_REQUEST', 'an SSH key comment must be one line');
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const jwk = pub.export({ format: 'jwk' });
  const b = (v: string | undefined): Buffer => Buffer.from(v ?? '', 'base64url');
  let type: SshKeyType;
  const writer = new SshWriter();
  if (pub.asymmetricKeyType === 'ed25519') {
    type = 'ssh-ed25519';
    writer.string(type).string(b(jwk.x));
  } else if (pub.asymmetricKeyType === 'rsa') {
    type = 'ssh-rsa';
    writer.string(type).mpint(BigInt(`0x${b(jwk.e).toString('hex')}`)).mpint(BigInt(`0x${b(jwk.n).toString('hex')}`));
  } else {
    const entry = Object.entries(ECDSA_CURVES).find(([, c]) => c.jwkCurve === jwk.crv);
    if (pub.asymmetricKeyType !== 'ec' || entry === undefined) {
      throw new BulwarkError('BAD_REQUEST', `a ${pub.asymmetricKeyType ?? 'unknown'} key has no OpenSSH form Bulwark writes`);
    }
    const [name, curve] = entry;
    type = name as SshKeyType;
    writer.string(type).string(curve.curve).string(Buffer.concat([Buffer.from([0x04]), b(jwk.x), b(jwk.y)]));
  }
  return `${type} ${writer.toBuffer().toString('base64')}${comment ? ` ${comment}` : ''}`;
}

/** The public key line of the CA's Ed25519 key; any other kind of CA key is refused. */
function ed25519Line(key: KeyObject, comment: string): string {
  if (key.asymmetricKeyType !== 'ed25519') throw new BulwarkError('KEY_FILE_INVALID', 'the SSH CA key is not an Ed25519 key');
  return formatSshPublicKey(key, comment);
}

/**
 * A new Ed25519 SSH user CA. Ed25519 because every OpenSSH since 6.5 accepts it,
 * its signatures are deterministic (no nonce to get wrong) and keys are small.
 */
export function generateSshCa(comment = 'bulwark-user-ca'): SshCaKeyPair {
  if (/[\r\n]/.test(comment)) throw new BulwarkError('BAD_REQUEST', 'an SSH key comment must be one line');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    publicKey: ed25519Line(publicKey, comment),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** Loads the CA private key; a damaged or foreign key is KEY_FILE_INVALID. */
export function loadSshCaPrivateKey(privateKeyPem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: privateKeyPem, format: 'pem' });
  } catch {
    throw new BulwarkError('KEY_FILE_INVALID', 'the SSH CA private key is not a PKCS#8 PEM key');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new BulwarkError('KEY_FILE_INVALID', 'the SSH CA private key is not an Ed25519 key');
  return key;
}

/** The `ssh-ed25519 …` line that belongs to a CA private key (without a comment). */
export function sshCaPublicKeyFromPrivate(privateKeyPem: string, comment = ''): string {
  return ed25519Line(createPublicKey(loadSshCaPrivateKey(privateKeyPem)), comment);
}

/** The fingerprint users compare with `ssh-keygen -l -f ca.pub`. */
export function sshCaFingerprint(caPublicKey: string): string {
  return parseSshPublicKey(caPublicKey).fingerprint;
}
