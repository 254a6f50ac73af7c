import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

const DISTROS = [
  { id: 'debian', name: 'Debian GNU/Linux', versionId: '12', codename: 'bookworm', pretty: 'Debian GNU/Linux 12 (bookworm)', kernel: '6.1.0-28-amd64' },
  { id: 'ubuntu', name: 'Ubuntu', versionId: '24.04', codename: 'noble', pretty: 'Ubuntu 24.04.1 LTS', kernel: '6.8.0-49-generic' },
  { id: 'debian', name: 'Debian GNU/Linux', versionId: '11', codename: 'bullseye', pretty: 'Debian GNU/Linux 11 (bullseye)', kernel: '5.10.0-33-amd64' },
] as const;

const ROLES = ['web', 'db', 'cache'] as const;

/**
 * Writes a small host tree (the files the fact collectors read) for simulated
 * node `index`, so a demo fleet shows varied, believable facts.
 */
export async function writeDemoRoot(root: string, index: number): Promise<{ hostname: string; labels: Record<string, string> }> {
  const distro = DISTROS[index % DISTROS.length] ?? DISTROS[0];
  const role = ROLES[index % ROLES.length] ?? 'web';
  const hostname = `${role}-${index + 1}`;
  const files: Record<string, string> = {
    'proc/sys/kernel/hostname': `${hostname}\n`,
    'proc/sys/kernel/osrelease': `${distro.kernel}\n`,
    'proc/sys/kernel/arch': 'x86_64\n',
    'etc/os-release': `PRETTY_NAME="${distro.pretty}"\nNAME="${distro.name}"\nVERSION_ID="${distro.versionId}"\nVERSION_CODENAME=${distro.codename}\nID=${distro.id}\n`,
    'proc/cpuinfo': Array.from({ length: 2 + (index % 3) * 2 }, (_, i) => `processor\t: ${i}\nmodel name\t: Demo CPU\n`).join('\n'),
    'proc/meminfo': `MemTotal:       ${(4 + (index % 4) * 4) * 1024 * 1024} kB\nMemFree:         1024000 kB\n`,
    'proc/uptime': `${3600 * (index + 1)}.00 1000.00\n`,
    'proc/net/tcp':
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n' +
      `   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 ${1000 + index} 1 0000000000000000 100 0 0 10 0\n` +
      (role === 'web' ? `   1: 00000000:01BB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 ${2000 + index} 1 0000000000000000 100 0 0 10 0\n` : '') +
      (role === 'db' ? `   1: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 ${3000 + index} 1 0000000000000000 100 0 0 10 0\n` : ''),
    'var/lib/dpkg/status': ['base-files', 'bash', 'openssh-server', 'openssl', role === 'db' ? 'postgresql-15' : 'nginx']
      .map((p) => `Package: ${p}\nStatus: install ok installed\nVersion: 1.0\n`)
      .join('\n'),
  };
  for (const [path, content] of Object.entries(files)) {
    const full = join(root, path);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, content);
  }
  return { hostname, labels: { env: index % 2 === 0 ? 'prod' : 'staging', role } };
}
