import { z } from 'zod';

export const SshSignRequestSchema = z.object({
  /** The user's public key, one `authorized_keys` line (`ssh-ed25519 AAAA… comment`). */
  publicKey: z.string().min(1).max(16 * 1024),
  /** Login names; no wildcards: a certificate names the logins it is good for. */
  principals: z.array(z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/, 'must be a login name (letters, digits, ".", "_", "-"; no wildcards)')).min(1).max(32),
  /** Default 1 h, at most 12 h: certificates are meant to be short-lived. */
  ttlSeconds: z.number().int().min(60).max(12 * 3600).default(3600),
});
export const SshSignResponseSchema = z.object({
  certificate: z.string(),
  serial: z.string(),
  keyId: z.string(),
  principals: z.array(z.string()),
  validAfter: z.number().int(),
  validBefore: z.number().int(),
});
export const SshCaSchema = z.object({ publicKey: z.string(), fingerprint: z.string() });
