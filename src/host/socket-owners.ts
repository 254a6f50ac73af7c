import { readdir, readFile, readlink } from 'node:fs/promises';
import { hostPath } from './host-file.js';

export interface SocketOwner {
  pid: number;
  name: string;
}

const SOCKET_LINK = /^socket:\[(\d+)\]$/;
// Enough parallel readlinks to keep the libuv pool busy without holding
// thousands of pending promises for a process with a huge fd table.
const PROCESS_WORKERS = 8;
const FD_BATCH = 64;

/**
 * Finds which process holds each socket inode by reading every
 * `/proc/<pid>/fd/*` link (`socket:[inode]`), as ss(8) and lsof do. Processes
 * are visited in ascending pid order and the lowest pid wins, so a socket shared
 * by a master and its workers is put on the master, and the answer does not
 * depend on timing. The walk stops once every inode is accounted for. Processes
 * whose fds cannot be read (another user's, or gone meanwhile) are skipped.
 */
export async function findSocketOwners(root: string, inodes: ReadonlySet<number>): Promise<Map<number, SocketOwner>> {
  const owners = new Map<number, SocketOwner>();
  if (inodes.size === 0) return owners;
  const pids = await listPids(root);
  const ownerPid = new Map<number, number>();
  let next = 0;

  const visit = async (pid: number): Promise<void> => {
    const fdDir = hostPath(root, `/proc/${pid}/fd`);
    let fds: string[];
    try {
      fds = await readdir(fdDir);
    } catch {
      return;
    }
    for (let i = 0; i < fds.length; i += FD_BATCH) {
      const links = await Promise.all(
        fds.slice(i, i + FD_BATCH).map((fd) => readlink(`${fdDir}/${fd}`).catch(() => undefined)),
      );
      for (const link of links) {
        const inode = socketInode(link);
        if (inode === undefined || !inodes.has(inode)) continue;
        const current = ownerPid.get(inode);
        if (current === undefined || pid < current) ownerPid.set(inode, pid);
      }
      if (ownerPid.size === inodes.size && [...ownerPid.values()].every((p) => p <= pid)) return;
    }
  };

  const worker = async (): Promise<void> => {
    // Pids are handed out in ascending order, so once every inode has an owner,
    // pids not yet handed out are all higher and cannot change the answer.
    while (next < pids.length && ownerPid.size < inodes.size) {
      const pid = pids[next++];
      if (pid !== undefined) await visit(pid);
    }
  };
  await Promise.all(Array.from({ length: PROCESS_WORKERS }, worker));

  const names = new Map<number, string | undefined>();
  for (const pid of new Set(ownerPid.values())) names.set(pid, await readComm(root, pid));
  for (const [inode, pid] of ownerPid) {
    const name = names.get(pid);
    if (name !== undefined) owners.set(inode, { pid, name });
  }
  return owners;
}

function socketInode(link: string | undefined): number | undefined {
  const match = link === undefined ? null : SOCKET_LINK.exec(link);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

async function listPids(root: string): Promise<number[]> {
  let entries: string[];
  try {
    entries = await readdir(hostPath(root, '/proc'));
  } catch {
    return [];
  }
  return entries
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .sort((a, b) => a - b);
}

async function readComm(root: string, pid: number): Promise<string | undefined> {
  try {
    const comm = await readFile(hostPath(root, `/proc/${pid}/comm`), 'utf8');
    return comm.replace(/\n$/, '');
  } catch {
    return undefined;
  }
}
