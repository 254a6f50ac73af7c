import type { Kysely, Selectable } from 'kysely';
import type { CertificatesTable, Database } from './database.js';

export interface CertificateRecord {
  serial: string;
  nodeId: string;
  fingerprint: string;
  notBefore: number;
  notAfter: number;
  issuedAt: number;
  revokedAt: number | null;
  revokeReason: string | null;
}

function toRecord(row: Selectable<CertificatesTable>): CertificateRecord {
  return {
    serial: row.serial,
    nodeId: row.node_id,
    fingerprint: row.fingerprint,
    notBefore: row.not_before,
    notAfter: row.not_after,
    issuedAt: row.issued_at,
    revokedAt: row.revoked_at,
    revokeReason: row.revoke_reason,
  };
}

export async function insertCertificate(db: Kysely<Database>, rec: CertificateRecord): Promise<void> {
  await db
    .insertInto('certificates')
    .values({
      serial: rec.serial,
      node_id: rec.nodeId,
      fingerprint: rec.fingerprint,
      not_before: rec.notBefore,
      not_after: rec.notAfter,
      issued_at: rec.issuedAt,
      revoked_at: rec.revokedAt,
      revoke_reason: rec.revokeReason,
    })
    .execute();
}

export async function getCertificate(db: Kysely<Database>, serial: string): Promise<CertificateRecord | undefined> {
  const row = await db.selectFrom('certificates').selectAll().where('serial', '=', serial).executeTakeFirst();
  return row && toRecord(row);
}

/** False when the serial is unknown or already revoked (the first reason stands). */
export async function revokeCertificate(db: Kysely<Database>, serial: string, at: number, reason: string): Promise<boolean> {
  const result = await db
    .updateTable('certificates')
    .set({ revoked_at: at, revoke_reason: reason })
    .where('serial', '=', serial)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Revokes every unrevoked certificate of a node; returns the serials this call revoked. */
export async function revokeNodeCertificates(db: Kysely<Database>, nodeId: string, at: number, reason: string): Promise<string[]> {
  const rows = await db
    .updateTable('certificates')
    .set({ revoked_at: at, revoke_reason: reason })
    .where('node_id', '=', nodeId)
    .where('revoked_at', 'is', null)
    .returning('serial')
    .execute();
  return rows.map((r) => r.serial).sort();
}

/**
 * Revokes a node's unrevoked certificates other than those in `keep`; with
 * `issuedUpTo`, only those issued at or before it (a certificate newer than the
 * one in use, e.g. a renewal in flight, is left alone). Returns the serials revoked.
 */
export async function revokeNodeCertificatesExcept(
  db: Kysely<Database>,
  nodeId: string,
  keep: readonly string[],
  at: number,
  reason: string,
  opts: { issuedUpTo?: number } = {},
): Promise<string[]> {
  let query = db
    .updateTable('certificates')
    .set({ revoked_at: at, revoke_reason: reason })
    .where('node_id', '=', nodeId)
    .where('serial', 'not in', [...keep])
    .where('revoked_at', 'is', null);
  if (opts.issuedUpTo !== undefined) query = query.where('issued_at', '<=', opts.issuedUpTo);
  const rows = await query.returning('serial').execute();
  return rows.map((r) => r.serial).sort();
}

/**
 * Revoked certificates by serial: the input of the CRL. With `now`, only those
 * still unexpired at that instant (notAfter later than it): RFC 5280 §3.3 lets a
 * CRL drop an entry once the certificate has expired, and renewals revoke a
 * certificate or two per node per day, so the full list only ever grows.
 * Without `now`, every revoked certificate, expired ones too.
 */
export async function listRevokedCertificates(db: Kysely<Database>, opts: { now?: number } = {}): Promise<{ serial: string; revokedAt: number }[]> {
  let query = db.selectFrom('certificates').select(['serial', 'revoked_at']).where('revoked_at', 'is not', null);
  if (opts.now !== undefined) query = query.where('not_after', '>', opts.now);
  const rows = await query.orderBy('serial').execute();
  return rows.map((r) => ({ serial: r.serial, revokedAt: r.revoked_at ?? 0 }));
}

/** A node's certificates, newest first. */
export async function listNodeCertificates(db: Kysely<Database>, nodeId: string): Promise<CertificateRecord[]> {
  const rows = await db.selectFrom('certificates').selectAll().where('node_id', '=', nodeId).orderBy('issued_at', 'desc').orderBy('serial').execute();
  return rows.map(toRecord);
}
