import { readFile, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BulwarkError } from '../core/errors.js';
import { writeFileAtomic } from '../core/fs.js';
import { ApiClient } from '../client/api-client.js';

export const CLIENT_CONFIG_FILE = 'client.json';
export const SESSION_FILE = 'session.json';

/** `$BULWARK_DATA_DIR`, else `$XDG_DATA_HOME/bulwark`, else `~/.local/share/bulwark`. */
export function defaultDataDir(): string {
  if (process.env.BULWARK_DATA_DIR) return process.env.BULWARK_DATA_DIR;
  const base = process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(base, 'bulwark');
}

export interface ClientFlags {
  dataDir?: string;
  server?: string;
  token?: string;
  ca?: string;
}

/** Remembers where the API listens so later commands on this machine need no flags. */
export async function saveClientConfig(dataDir: string, apiUrl: string): Promise<void> {
  await writeFileAtomic(join(dataDir, CLIENT_CONFIG_FILE), `${JSON.stringify({ apiUrl }, null, 2)}\n`, 0o600);
}

/**
 * Builds an API client from flags, then environment, then the data directory
 * that `bulwark up` wrote: server URL, CA certificate and admin token.
 */
export async function clientFrom(flags: ClientFlags): Promise<ApiClient> {
  const dataDir = flags.dataDir ?? defaultDataDir();
  const server = flags.server ?? process.env.BULWARK_SERVER ?? (await readClientConfig(dataDir))?.apiUrl;
  if (!server) {
    throw new BulwarkError('NOT_INITIALISED', `no server given and none remembered in ${dataDir}; pass --server https://HOST:8443 or run \`bulwark up\``);
  }
  try {
    const url = new URL(server);
    if (url.protocol !== 'https:') throw new Error('not https');
  } catch {
    throw new BulwarkError('BAD_REQUEST', `server address "${server}" is not an https:// URL`);
  }
  const caPath = flags.ca ?? process.env.BULWARK_CA ?? join(dataDir, 'ca.pem');
  const caPem = await readFile(caPath, 'utf8').catch(() => {
    throw new BulwarkError('NOT_INITIALISED', `cannot read the cluster CA certificate at ${caPath}; pass --ca FILE (the server writes ca.pem into its data directory)`);
  });
  const session = await readSession(dataDir);
  const liveSession = session && session.apiUrl === server && session.expiresAt > Date.now() ? session.token : undefined;
  // A login session wins over the bootstrap admin token, so what a person does is recorded under their name.
  const token = flags.token ?? process.env.BULWARK_TOKEN ?? liveSession ?? (await readFile(join(dataDir, 'admin-token'), 'utf8').catch(() => undefined))?.trim();
  return new ApiClient({ baseUrl: server, token, caPem });
}

async function readClientConfig(dataDir: string): Promise<{ apiUrl?: string } | undefined> {
  try {
    return JSON.parse(await readFile(join(dataDir, CLIENT_CONFIG_FILE), 'utf8')) as { apiUrl?: string };
  } catch {
    return undefined;
  }
}

export interface SavedSession {
  apiUrl: string;
  token: string;
  user: string;
  expiresAt: number;
}

/** Keeps the login session for later commands, readable by this user only. */
export async function saveSession(dataDir: string, session: SavedSession): Promise<void> {
  await writeFileAtomic(join(dataDir, SESSION_FILE), `${JSON.stringify(session, null, 2)}\n`, 0o600);
}

export async function readSession(dataDir: string): Promise<SavedSession | undefined> {
  try {
    return JSON.parse(await readFile(join(dataDir, SESSION_FILE), 'utf8')) as SavedSession;
  } catch {
    return undefined;
  }
}

export async function forgetSession(dataDir: string): Promise<void> {
  await rm(join(dataDir, SESSION_FILE), { force: true });
}

/** The API address flags, environment or `bulwark up` give, for commands that must save it (login). */
export async function serverFrom(flags: ClientFlags): Promise<string | undefined> {
  const dataDir = flags.dataDir ?? defaultDataDir();
  return flags.server ?? process.env.BULWARK_SERVER ?? (await readClientConfig(dataDir))?.apiUrl;
}
