import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { BulwarkError } from '../core/errors.js';
import { writeFileAtomic } from '../core/fs.js';

/** What an enrolled agent keeps in its data directory. The private key never leaves it. */
export interface AgentIdentity {
  nodeId: string;
  clusterName: string;
  servers: string[];
  caPin: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

const AgentConfigSchema = z.object({
  nodeId: z.string(),
  clusterName: z.string(),
  servers: z.array(z.string()).min(1),
  caPin: z.string(),
});

const FILES = { config: 'agent.json', ca: 'ca.pem', cert: 'node.crt', key: 'node.key' } as const;

export async function loadIdentity(dataDir: string): Promise<AgentIdentity> {
  let raw: string;
  try {
    raw = await readFile(join(dataDir, FILES.config), 'utf8');
  } catch {
    throw new BulwarkError('NOT_INITIALISED', `no agent identity in ${dataDir}; run \`bulwark agent join --server URL --token T --ca-pin sha256:HEX\` first`);
  }
  const corrupted = (): BulwarkError =>
    new BulwarkError('CONFIG_INVALID', `${join(dataDir, FILES.config)} is corrupted; remove the data directory and join again`);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw corrupted();
  }
  const parsed = AgentConfigSchema.safeParse(json);
  if (!parsed.success) throw corrupted();
  const [caPem, certPem, keyPem] = await Promise.all(
    [FILES.ca, FILES.cert, FILES.key].map((f) =>
      readFile(join(dataDir, f), 'utf8').catch(() => {
        throw new BulwarkError('NOT_INITIALISED', `${join(dataDir, f)} is missing; join again`);
      }),
    ),
  );
  return { ...parsed.data, caPem: caPem ?? '', certPem: certPem ?? '', keyPem: keyPem ?? '' };
}

export async function hasIdentity(dataDir: string): Promise<boolean> {
  return readFile(join(dataDir, FILES.config)).then(
    () => true,
    () => false,
  );
}

/** Writes the identity; the key and certificate are written before the config that points at them. */
export async function saveIdentity(dataDir: string, id: AgentIdentity): Promise<void> {
  await writeFileAtomic(join(dataDir, FILES.key), id.keyPem, 0o600);
  await writeFileAtomic(join(dataDir, FILES.cert), id.certPem, 0o644);
  await writeFileAtomic(join(dataDir, FILES.ca), id.caPem, 0o644);
  const config = { nodeId: id.nodeId, clusterName: id.clusterName, servers: id.servers, caPin: id.caPin };
  await writeFileAtomic(join(dataDir, FILES.config), `${JSON.stringify(config, null, 2)}\n`, 0o600);
}

/**
 * Replaces key and certificate after renewal. A crash between the two writes leaves
 * a key that does not match the certificate; the new pair is therefore written to
 * one file first and only then split, so the pair on disk is always consistent.
 */
export async function saveRenewedCertificate(dataDir: string, keyPem: string, certPem: string): Promise<void> {
  await writeFileAtomic(join(dataDir, 'node.renewing'), JSON.stringify({ keyPem, certPem }), 0o600);
  await writeFileAtomic(join(dataDir, FILES.key), keyPem, 0o600);
  await writeFileAtomic(join(dataDir, FILES.cert), certPem, 0o644);
  await rm(join(dataDir, 'node.renewing'), { force: true });
}

/** Finishes a renewal a crash interrupted (see saveRenewedCertificate). */
export async function recoverInterruptedRenewal(dataDir: string): Promise<void> {
  let pending: { keyPem: string; certPem: string };
  try {
    pending = JSON.parse(await readFile(join(dataDir, 'node.renewing'), 'utf8')) as { keyPem: string; certPem: string };
  } catch {
    return;
  }
  const [key, cert] = await Promise.all([readFile(join(dataDir, FILES.key), 'utf8').catch(() => ''), readFile(join(dataDir, FILES.cert), 'utf8').catch(() => '')]);
  if (key !== pending.keyPem || cert !== pending.certPem) await saveRenewedCertificate(dataDir, pending.keyPem, pending.certPem);
  else await rm(join(dataDir, 'node.renewing'), { force: true });
}
