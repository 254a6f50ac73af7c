import type { Command } from 'commander';
import { addRepoFlags, withRepository, type RepoFlags } from '../backup-context.js';
import { defaultDataDir } from '../context.js';
import { printJson } from '../output.js';
import { addServerFlags, type ServerFlags } from './server-options.js';
import type { InitSealFlags } from '../actions/run-server.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function registerServer(program: Command): void {
  const group = program.command('server').description('run the control plane');

  const init = group
    .command('init')
    .description('create the cluster (CA, master key, admin token) and exit')
    .option('--data-dir <dir>', 'where the cluster lives', defaultDataDir());
  addServerFlags(init, { apiAddr: '127.0.0.1:0', agentAddr: '127.0.0.1:0' });
  init
    .option('--passphrase', 'protect the master key with a passphrase (asked twice, no echo); the server then starts sealed')
    .option('--passphrase-stdin', 'read that passphrase from stdin')
    .option('--shares <n>', 'split the master key into N shares (printed once); the server then starts sealed')
    .option('--threshold <m>', 'shares needed to unseal (with --shares)');
  init.addHelpText(
    'after',
    `
The master key is kept in a key file in the data directory unless --passphrase or
--shares is given; with those, every start is sealed until \`bulwark unseal\`.

Examples:
  $ bulwark server init --data-dir /var/lib/bulwark --cluster-name prod
  $ bulwark server init --shares 5 --threshold 3
  $ bulwark server init --passphrase`,
  );
  init.action(async (flags: ServerFlags & InitSealFlags & { dataDir: string }) => {
    const { printServerBanner, startServer, sealChoiceFrom } = await import('../actions/run-server.js');
    const server = await startServer({ ...flags, seal: await sealChoiceFrom(flags) });
    printServerBanner(server);
    await server.close();
  });

  const run = group
    .command('run')
    .description('run the server (creating the cluster on first start) until SIGINT/SIGTERM')
    .option('--data-dir <dir>', 'where the cluster lives', defaultDataDir());
  addServerFlags(run, { apiAddr: '127.0.0.1:8443', agentAddr: '0.0.0.0:8444' });
  run.addHelpText(
    'after',
    `
Examples:
  $ bulwark server run --api-addr 0.0.0.0:8443 --san bulwark.example.com
  $ bulwark server run --db postgres://bulwark@db:5432/bulwark   # one of several replicas
  $ bulwark server run --passphrase-file /run/secrets/bulwark    # unseal a passphrase cluster at start`,
  );
  run.option('--passphrase-file <file>', 'unseal at start with the passphrase in this file (a passphrase cluster otherwise starts sealed)');
  run.action(async (flags: ServerFlags & { dataDir: string; passphraseFile?: string }) => {
    const { printServerBanner, startServer } = await import('../actions/run-server.js');
    const { untilSignal } = await import('../signals.js');
    const server = await startServer(flags);
    printServerBanner(server);
    await untilSignal();
    await server.close();
  });

  const backupCmd = addRepoFlags(
    group
      .command('backup')
      .description('write a consistent snapshot of the control plane (database and data directory) into a backup repository')
      .option('--data-dir <dir>', 'where the cluster lives', defaultDataDir())
      .option('--db <url>', 'postgres://… when the cluster runs on PostgreSQL (pg_dump must be installed)'),
    { fleetNode: false },
  )
    .option('-t, --tag <tag>', 'extra tag (repeatable)', collect, [])
    .option('--json', 'print JSON');
  backupCmd.addHelpText(
    'after',
    `
Safe while the server runs: SQLite is copied with its online backup API,
PostgreSQL with pg_dump. Keys in the database stay sealed under the master key;
the repository encrypts everything again. Restore with \`bulwark server restore\`.

Examples:
  $ bulwark server backup --repo /mnt/backups/control-plane
  $ bulwark server backup --repo s3://backups/bulwark --db postgres://bulwark@db/bulwark`,
  );
  backupCmd.action(async (flags: RepoFlags & { dataDir: string; db?: string; tag: string[]; json?: boolean }) => {
    const { backupControlPlane } = await import('../../server/control-plane-backup.js');
    await withRepository(flags, async (repo) => {
      const { snapshot, manifest } = await backupControlPlane(repo, { dataDir: flags.dataDir, ...(flags.db === undefined ? {} : { db: flags.db }) }, { tags: flags.tag });
      if (flags.json) return printJson({ snapshot: snapshot.id, time: snapshot.time, database: manifest.database, files: manifest.files, summary: snapshot.summary });
      process.stdout.write(`control-plane snapshot ${snapshot.id.slice(0, 8)} saved (${manifest.database} database and ${manifest.files.length} files of ${flags.dataDir})\n`);
    });
  });

  const restoreCmd = addRepoFlags(
    group
      .command('restore')
      .description('bring a cluster back from a control-plane snapshot, into an empty data directory')
      .option('--data-dir <dir>', 'where the cluster will live', defaultDataDir())
      .option('--db <url>', 'the PostgreSQL database to restore into, for a cluster that ran on PostgreSQL'),
    { fleetNode: false },
  )
    .option('--snapshot <id>', 'snapshot id (prefix), default: the latest control-plane snapshot', 'latest')
    .option('--force', 'replace a cluster that is already in the data directory')
    .option('--json', 'print JSON');
  restoreCmd.addHelpText(
    'after',
    `
Then start the server with the same addresses (\`bulwark server run\`); agents keep
their certificates and reconnect. A passphrase or key-share cluster starts sealed.

Examples:
  $ bulwark server restore --repo /mnt/backups/control-plane --data-dir /var/lib/bulwark
  $ bulwark server restore --repo s3://backups/bulwark --snapshot 3f2a9c1e --db postgres://bulwark@db/bulwark`,
  );
  restoreCmd.action(async (flags: RepoFlags & { dataDir: string; db?: string; snapshot: string; force?: boolean; json?: boolean }) => {
    const { restoreControlPlane } = await import('../../server/control-plane-backup.js');
    await withRepository(flags, async (repo) => {
      const { snapshot, manifest } = await restoreControlPlane(repo, { dataDir: flags.dataDir, snapshot: flags.snapshot, force: flags.force === true, ...(flags.db === undefined ? {} : { db: flags.db }) });
      if (flags.json) return printJson({ snapshot: snapshot.id, time: snapshot.time, database: manifest.database, files: manifest.files, dataDir: flags.dataDir });
      process.stdout.write(`restored the control plane of ${snapshot.time} (snapshot ${snapshot.id.slice(0, 8)}) into ${flags.dataDir}; start it with: bulwark server run --data-dir ${flags.dataDir}${flags.db === undefined ? '' : ' --db …'}\n`);
    });
  });
}

