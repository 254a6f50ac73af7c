import type { Command } from 'commander';
import { parseDuration } from '../../core/duration.js';
import { BulwarkError } from '../../core/errors.js';
import { openBackend } from '../../backup/backend/open.js';
import { backup } from '../../backup/archiver.js';
import { check, type CheckReport } from '../../backup/checker.js';
import { forget } from '../../backup/forget.js';
import { diffTrees, walkTree } from '../../backup/listing.js';
import { removeLocks } from '../../backup/lock.js';
import { prune, type PruneReport } from '../../backup/prune.js';
import { Repository } from '../../backup/repository.js';
import { restore, type RestoreProgress } from '../../backup/restorer.js';
import { parseRetentionFlags, type RetentionFlags } from '../../backup/retention.js';
import { findSnapshot, type SnapshotRef } from '../../backup/snapshot.js';
import { addRepoFlags, credentialFrom, formatBytes, newCredentialFrom, PARTIAL_EXIT, formatSeconds, repoLocation, TransferProgress, withRepository, type RepoFlags } from '../backup-context.js';
import type { ClientFlags } from '../context.js';
import { clean, printJson, printTable } from '../output.js';
import { restoreOnNode } from './backup-fleet.js';
import { addClientFlags } from './token.js';


const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function shortId(id: string): string {
  return id.slice(0, 8);
}

function fraction(text: string): number {
  const m = /^(\d+(?:\.\d+)?)%$/.exec(text.trim());
  const value = m ? Number(m[1]) / 100 : Number(text);
  if (!Number.isFinite(value) || value <= 0 || value > 1) throw new BulwarkError('BAD_REQUEST', `${JSON.stringify(text)} is not a share of the data: give a percentage like 10% (or a fraction like 0.1)`);
  return value;
}

function snapshotRow(s: SnapshotRef): Record<string, string> {
  return { id: shortId(s.id), time: s.time.replace(/\.\d{3}Z$/, 'Z'), host: s.host, tags: s.tags.join(',') || '-', paths: s.paths.join(' '), size: s.summary ? formatBytes(s.summary.totalBytes) : '-' };
}

function printCheck(report: CheckReport): void {
  process.stdout.write(`${report.indexFiles} index files, ${report.packs} packs, ${report.blobs} blobs, ${report.snapshots} snapshots${report.packsRead > 0 ? `; read the data of ${report.packsRead} packs` : ''}\n`);
  if (report.unreferencedPacks.length > 0) process.stdout.write(`${report.unreferencedPacks.length} packs are not referenced by any index (left by an interrupted backup); "bulwark backup prune" removes them\n`);
  for (const p of report.problems) process.stdout.write(`error: ${p.kind} ${clean(p.name)}: ${clean(p.message)}\n`);
  for (const a of report.affected) {
    process.stdout.write(`snapshot ${shortId(a.id)} (${clean(a.time)}, ${clean(a.host)}) has ${a.files.length} damaged files:\n`);
    for (const f of a.files) process.stdout.write(`  ${clean(f)}\n`);
  }
  process.stdout.write(report.ok ? 'no errors were found\n' : 'the repository is damaged\n');
}

function printPrune(r: PruneReport): void {
  const verb = r.dryRun ? 'would remove' : 'removed';
  process.stdout.write(`${verb} ${r.packsRemoved + r.unreferencedPacksRemoved} packs and ${r.blobsRemoved} blobs, ${r.dryRun ? 'would rewrite' : 'rewrote'} ${r.packsRewritten} packs; ${formatBytes(r.bytesFreed)} ${r.dryRun ? 'would be' : ''} freed\n`.replace('  ', ' '));
}

export function registerBackup(program: Command): void {
  const group = program.command('backup').description('encrypted, deduplicated backups: stand-alone on any machine, or by policy across the fleet');
  group.addHelpText(
    'after',
    `
A repository is a directory or an S3 bucket; it is restored with nothing but
the repository and its password (or key file) — no server needed.

Examples:
  $ export BULWARK_BACKUP_REPO=/mnt/backups/r1 BULWARK_BACKUP_PASSWORD_FILE=/root/.backup-pass
  $ bulwark backup init
  $ bulwark backup run /etc /var/lib/app --exclude '*.tmp' --tag nightly
  $ bulwark backup snapshots
  $ bulwark backup restore latest --target /restore --include /etc/app
  $ bulwark backup forget --keep-daily 7 --keep-weekly 4 --prune
  $ bulwark backup check --read-data-subset 10%

Fleet policies keep each node's backups in its own repository (the policy's
location + "/" + node id + "/" + epoch) under its own key, derived from the
policy's name and password or key file. Open one without the server:
  $ bulwark backup snapshots --repo /srv/backups/db --password-file db.pass --fleet-policy db --fleet-node node_k3vq2xh4
  $ bulwark backup restore latest --repo /srv/backups/db --password-file db.pass --fleet-policy db --fleet-node node_k3vq2xh4 --target /restore`,
  );

  // A fleet node's repository is made by its agent, with the key the server sends: made here with a mistyped password, it would lock the node out.
  const init = addRepoFlags(group.command('init').description('create a repository'), { fleetNode: false }).option('--json', 'print JSON');
  init.addHelpText('after', `
Examples:
  $ bulwark backup init --repo /mnt/backups/r1
  $ AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… bulwark backup init --repo s3://bucket/host1
  $ head -c 64 /dev/urandom > repo.key && bulwark backup init --repo /srv/r2 --key-file repo.key`);
  init.action(async (flags: RepoFlags & { json?: boolean }) => {
    const backend = openBackend(repoLocation(flags), flags.s3Endpoint === undefined ? {} : { s3Endpoint: flags.s3Endpoint });
    try {
      const repo = await Repository.init(backend, await credentialFrom(flags, 'create'));
      repo.close();
      if (flags.json) return printJson({ id: repo.config.id, location: backend.location });
      process.stdout.write(`created repository ${shortId(repo.config.id)} at ${clean(backend.location)}\nKeep the password (or key file) safe: without it the data cannot be read, by anyone.\n`);
    } finally {
      await backend.close();
    }
  });

  const run = addRepoFlags(group.command('run').description('back up files and directories').argument('<paths...>', 'files and directories to back up'))
    .option('-e, --exclude <glob>', 'leave out matching paths (repeatable): *.log, node_modules, /var/cache/**', collect, [])
    .option('-t, --tag <tag>', 'tag the snapshot (repeatable)', collect, [])
    .option('--host <name>', 'host name recorded in the snapshot (default: this machine)')
    .option('--parent <snapshot>', 'compare with this snapshot to skip unchanged files (default: the latest of the same host and paths)')
    .option('--force', 'read every file again, even if it looks unchanged')
    .option('--json', 'print the summary as JSON');
  run.addHelpText('after', `
Examples:
  $ bulwark backup run /etc /home
  $ bulwark backup run /var/lib/app --exclude '*.tmp' --exclude /var/lib/app/cache --tag hourly
Exit status 12 means the snapshot was written but some files could not be read (they are listed).`);
  run.action(async (paths: string[], flags: RepoFlags & { exclude: string[]; tag: string[]; host?: string; parent?: string; force?: boolean; json?: boolean }) => {
    await withRepository(flags, async (repo) => {
      const progress = new TransferProgress('backup');
      const errors: { path: string; message: string }[] = [];
      const result = await backup(repo, {
        paths,
        excludes: flags.exclude,
        tags: flags.tag,
        ...(flags.host === undefined ? {} : { host: flags.host }),
        parent: flags.force ? 'none' : (flags.parent ?? 'auto'),
        scan: progress.enabled,
        blockingStat: true,
        onProgress: (p) => progress.update(p),
        onError: (path, message) => {
          errors.push({ path, message });
          if (!flags.json) {
            progress.done();
            process.stderr.write(`warning: ${clean(path)}: ${clean(message)}\n`);
          }
        },
      });
      progress.done();
      const s = result.snapshot.summary;
      if (flags.json) printJson({ snapshot: result.id, time: result.snapshot.time, paths: result.snapshot.paths, summary: s, errors });
      else if (s) {
        process.stdout.write(
          `snapshot ${shortId(result.id)} saved\n` +
            `files: ${s.filesNew} new, ${s.filesChanged} changed, ${s.filesUnchanged} unchanged; ${s.dirs} directories\n` +
            `read ${formatBytes(s.bytesProcessed)}; added ${formatBytes(s.bytesAdded)} of new data, stored as ${formatBytes(s.bytesStored)} (deduplicated, compressed, encrypted)\n` +
            `total ${s.totalFiles} files, ${formatBytes(s.totalBytes)}, in ${formatSeconds(s.durationMs)}\n`,
        );
      }
      if (errors.length > 0) {
        if (!flags.json) process.stderr.write(`${errors.length} files or directories could not be read; the snapshot holds everything else\n`);
        process.exitCode = PARTIAL_EXIT;
      }
    });
  });

  const snapshots = addRepoFlags(group.command('snapshots').description('list snapshots'))
    .option('--host <name>', 'only snapshots of this host')
    .option('-t, --tag <tag>', 'only snapshots with this tag (repeatable)', collect, [])
    .option('--json', 'print JSON');
  snapshots.addHelpText('after', '\nExamples:\n  $ bulwark backup snapshots\n  $ bulwark backup snapshots --host db-1 --json');
  snapshots.action(async (flags: RepoFlags & { host?: string; tag: string[]; json?: boolean }) => {
    await withRepository(flags, async (repo) => {
      const list = (await repo.listSnapshots()).filter((s) => (flags.host === undefined || s.host === flags.host) && flags.tag.every((t) => s.tags.includes(t)));
      if (flags.json) return printJson(list);
      printTable({ id: 'ID', time: 'TIME', host: 'HOST', tags: 'TAGS', size: 'SIZE', paths: 'PATHS' }, list.map(snapshotRow));
    });
  });

  const ls = addRepoFlags(group.command('ls').description('list the files of a snapshot').argument('<snapshot>', '"latest" or an id (prefix)').argument('[path]', 'only below this path', '/'))
    .option('-l, --long', 'show mode, owner, size and time')
    .option('--json', 'print JSON lines: one node per line');
  ls.addHelpText('after', '\nExamples:\n  $ bulwark backup ls latest /etc\n  $ bulwark backup ls 3f2a9c1e -l');
  ls.action(async (ref: string, path: string, flags: RepoFlags & { long?: boolean; json?: boolean }) => {
    await withRepository(flags, async (repo) => {
      await repo.loadIndex();
      const snap = findSnapshot(await repo.listSnapshots(), ref);
      for await (const { path: p, node } of walkTree(repo, snap.tree, path)) {
        if (flags.json) {
          const { content: _content, subtree: _subtree, ...rest } = node;
          process.stdout.write(`${JSON.stringify({ path: p, ...rest })}\n`);
        } else if (flags.long) {
          process.stdout.write(`${node.type.padEnd(7)} ${node.mode.toString(8).padStart(4, '0')} ${String(node.uid).padStart(5)} ${String(node.gid).padStart(5)} ${String(node.size ?? 0).padStart(12)} ${new Date(Number(BigInt(node.mtimeNs) / 1_000_000n)).toISOString()} ${clean(p)}${node.type === 'symlink' ? ` -> ${clean(node.target ?? '')}` : ''}\n`);
        } else process.stdout.write(`${clean(p)}\n`);
      }
    });
  });

  const diff = addRepoFlags(group.command('diff').description('what changed between two snapshots').argument('<from>').argument('<to>')).option('--json', 'print JSON');
  diff.addHelpText('after', '\n+ added, - removed, M content changed, T type changed, U metadata changed\n\nExamples:\n  $ bulwark backup diff 3f2a9c1e latest');
  diff.action(async (from: string, to: string, flags: RepoFlags & { json?: boolean }) => {
    await withRepository(flags, async (repo) => {
      await repo.loadIndex();
      const all = await repo.listSnapshots();
      const a = findSnapshot(all, from);
      const b = findSnapshot(all, to);
      const changes = [];
      for await (const entry of diffTrees(repo, a.tree, b.tree)) {
        if (flags.json) changes.push(entry);
        else process.stdout.write(`${entry.change} ${clean(entry.path)}\n`);
      }
      if (flags.json) printJson({ from: a.id, to: b.id, changes });
    });
  });

  const restoreCmd = addRepoFlags(group.command('restore').description('restore a snapshot into a directory').argument('<snapshot>', '"latest" or an id (prefix)'))
    .requiredOption('--target <dir>', 'directory to restore into (made if missing)')
    .option('-i, --include <path>', 'restore only this path of the snapshot (repeatable)', collect, [])
    .option('--host <name>', 'with "latest": the latest snapshot of this host')
    .option('--node <node>', 'restore on this node, through its agent and the repository of its backup policy')
    .option('--from-node <node>', "with --node: restore another node's snapshot (e.g. onto a replacement machine)")
    .option('--policy <name>', 'with --node: the backup policy whose repository to use (when the node has several)')
    .option('--json', 'print JSON');
  addClientFlags(restoreCmd);
  restoreCmd.addHelpText('after', `
Nothing is written outside the target: names with "..", absolute names and
symbolic links on the way are refused (and reported), the rest is restored.
Exit status 12 means some files could not be restored (they are listed).

Examples:
  $ bulwark backup restore latest --target /restore
  $ bulwark backup restore 3f2a9c1e --target /tmp/r --include /etc/nginx
  $ bulwark backup restore latest --node db-1 --target /restore               # on the node, by its agent
  $ bulwark backup restore latest --node db-2 --from-node db-1 --target /srv  # onto a replacement`);
  restoreCmd.action(async (ref: string, flags: RepoFlags & ClientFlags & { target: string; include: string[]; host?: string; node?: string; fromNode?: string; policy?: string; json?: boolean }) => {
    if (flags.node !== undefined && flags.fleetNode !== undefined) throw new BulwarkError('BAD_REQUEST', '--node restores through the server and the node\'s agent, --fleet-node opens the repository here: give one of them');
    if (flags.node !== undefined) return restoreOnNode(ref, { ...flags, node: flags.node });
    if (flags.fromNode !== undefined || flags.policy !== undefined) throw new BulwarkError('BAD_REQUEST', "--from-node and --policy go with --node (a restore through a node's agent)");
    await withRepository(flags, async (repo) => {
      await repo.loadIndex();
      const snap = findSnapshot(await repo.listSnapshots(), ref, flags.host === undefined ? {} : { host: flags.host });
      const progress = new TransferProgress('restore');
      const started = Date.now();
      // Small blobs are opened on this thread, large ones on one worker (src/backup/restorer.ts, bench/RESULTS.md).
      const result = await restore(repo, snap.tree, { target: flags.target, include: flags.include, ...(progress.enabled ? { onProgress: (p: RestoreProgress) => progress.update(p) } : {}) });
      progress.done();
      if (flags.json) printJson({ snapshot: snap.id, target: flags.target, ...result, durationMs: Date.now() - started });
      else {
        process.stdout.write(`restored ${result.files} files (${formatBytes(result.bytes)}), ${result.dirs} directories, ${result.symlinks} symlinks of snapshot ${shortId(snap.id)} into ${clean(flags.target)} in ${formatSeconds(Date.now() - started)}\n`);
        for (const p of result.problems) process.stderr.write(`error: ${clean(p.path)}: ${clean(p.message)}\n`);
      }
      if (result.problems.length > 0) {
        if (!flags.json) process.stderr.write(`${result.problems.length} paths were not restored; everything else was\n`);
        process.exitCode = PARTIAL_EXIT;
      }
    });
  });

  const forgetCmd = addRepoFlags(group.command('forget').description('remove snapshots by a retention policy'))
    .option('--keep-last <n>', 'keep the newest n snapshots')
    .option('--keep-hourly <n>', 'keep the newest snapshot of each of the last n hours with snapshots')
    .option('--keep-daily <n>', 'keep one per day for n days')
    .option('--keep-weekly <n>', 'keep one per ISO week for n weeks')
    .option('--keep-monthly <n>', 'keep one per month for n months')
    .option('--keep-yearly <n>', 'keep one per year for n years')
    .option('--keep-within <duration>', 'keep every snapshot newer than this before the latest: 30d, 2w, 1y6m')
    .option('--keep-tag <tag>', 'keep every snapshot with this tag (repeatable)', collect, [])
    .option('--prune', 'remove the data no snapshot needs any more, right after')
    .option('--dry-run', 'only show what would be removed')
    .option('--json', 'print JSON');
  forgetCmd.addHelpText('after', `
Snapshots are grouped by host and paths; each group keeps its own. -1 means unlimited.

Examples:
  $ bulwark backup forget --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run
  $ bulwark backup forget --keep-last 10 --prune`);
  forgetCmd.action(async (flags: RepoFlags & RetentionFlags & { keepTag: string[]; prune?: boolean; dryRun?: boolean; json?: boolean }) => {
    const policy = parseRetentionFlags(flags);
    await withRepository(flags, async (repo) => {
      const result = await forget(repo, policy, { dryRun: flags.dryRun === true });
      let pruned: PruneReport | undefined;
      if (flags.prune && result.removed.length > 0) pruned = await prune(repo, { dryRun: flags.dryRun === true });
      if (flags.json) return printJson({ ...result, ...(pruned ? { prune: pruned } : {}) });
      for (const g of result.groups) {
        process.stdout.write(`host ${clean(g.key.host ?? '*')}, paths ${clean((g.key.paths ?? []).join(' ') || '*')}: keep ${g.keep.length}, remove ${g.remove.length}\n`);
        for (const k of g.keep) process.stdout.write(`  keep   ${shortId(k.id)}  (${k.reasons.join(', ')})\n`);
        for (const r of g.remove) process.stdout.write(`  ${flags.dryRun ? 'would remove' : 'remove'} ${shortId(r)}\n`);
      }
      if (pruned) printPrune(pruned);
    });
  });

  const pruneCmd = addRepoFlags(group.command('prune').description('remove data that no snapshot references'))
    .option('--max-unused <percent>', 'rewrite packs with more than this share unused', '20%')
    .option('--unindexed-grace <duration>', 'remove packs no index names only when older than this (a running backup may still name them); 0 for now', '1h')
    .option('--dry-run', 'only show what would be removed')
    .option('--json', 'print JSON');
  pruneCmd.addHelpText('after', '\nTakes an exclusive lock: backups wait or fail until it is done.\n\nExamples:\n  $ bulwark backup prune\n  $ bulwark backup prune --dry-run --json');
  pruneCmd.action(async (flags: RepoFlags & { maxUnused: string; unindexedGrace: string; dryRun?: boolean; json?: boolean }) => {
    const unindexedGraceMs = flags.unindexedGrace.trim() === '0' ? 0 : parseDuration(flags.unindexedGrace);
    await withRepository(flags, async (repo) => {
      const report = await prune(repo, { dryRun: flags.dryRun === true, maxUnused: fraction(flags.maxUnused), unindexedGraceMs });
      if (flags.json) return printJson(report);
      printPrune(report);
    });
  });

  const checkCmd = addRepoFlags(group.command('check').description('verify the repository: structure, and with --read-data every byte'))
    .option('--read-data', 'read and authenticate all data')
    .option('--read-data-subset <share>', 'read and authenticate a random share of the packs, e.g. 10%')
    .option('--json', 'print JSON');
  checkCmd.addHelpText('after', '\nExit status 10 (REPOSITORY_DAMAGED) when anything is wrong; the damaged snapshots and files are named.\n\nExamples:\n  $ bulwark backup check\n  $ bulwark backup check --read-data-subset 10%');
  checkCmd.action(async (flags: RepoFlags & { readData?: boolean; readDataSubset?: string; json?: boolean }) => {
    if (flags.readData && flags.readDataSubset !== undefined) throw new BulwarkError('BAD_REQUEST', 'give --read-data or --read-data-subset, not both');
    const subset = flags.readDataSubset === undefined ? undefined : fraction(flags.readDataSubset);
    await withRepository(flags, async (repo) => {
      const progress = new TransferProgress('check');
      // Blobs are opened on this thread: handing whole packs to workers costs more than it saves (measured).
      const report = await check(repo, {
        readData: flags.readData === true,
        ...(subset === undefined ? {} : { readDataSubset: subset }),
        onProgress: (done, total) => progress.update({ filesDone: done, bytesDone: 0, totalFiles: total }),
      });
      progress.done();
      if (flags.json) printJson(report);
      else printCheck(report);
      if (!report.ok) throw new BulwarkError('REPOSITORY_DAMAGED', `check found ${report.problems.length} problems${report.affected.length > 0 ? ` affecting ${report.affected.length} snapshots` : ''}`);
    });
  });

  const unlock = addRepoFlags(group.command('unlock').description('remove stale locks left by processes that died'))
    .option('--all', 'remove every lock, even live ones (only when you know no backup is running)')
    .option('--json', 'print JSON');
  unlock.addHelpText('after', '\nA lock is stale when it was not refreshed for 30 minutes, or its process on this host is gone.\n\nExamples:\n  $ bulwark backup unlock');
  unlock.action(async (flags: RepoFlags & { all?: boolean; json?: boolean }) => {
    await withRepository(flags, async (repo) => {
      const removed = await removeLocks(repo.backend, repo.keys.encryption, flags.all === true);
      if (flags.json) return printJson({ removed: removed.map((l) => ({ id: l.name, ...l.info })) });
      process.stdout.write(`removed ${removed.length} locks\n`);
    });
  });

  const key = group.command('key').description('manage the passwords and key files that open a repository');
  key.addHelpText('after', '\nExamples:\n  $ bulwark backup key ls\n  $ bulwark backup key add --new-password-file new.pass\n  $ bulwark backup key rm 1a2b3c4d');
  addRepoFlags(key.command('ls').description('list keys'))
    .option('--json', 'print JSON')
    .action(async (flags: RepoFlags & { json?: boolean }) => {
      await withRepository(flags, async (repo) => {
        const keys = await repo.listKeys();
        if (flags.json) return printJson(keys);
        printTable({ current: ' ', id: 'ID', kind: 'KIND', user: 'USER', host: 'HOST', created: 'CREATED' }, keys.map((k) => ({ current: k.current ? '*' : '', id: shortId(k.id), kind: k.kind, user: k.user, host: k.host, created: k.created })));
      });
    });
  addRepoFlags(key.command('add').description('add a password or key file that opens the repository'))
    .option('--new-password-file <file>', 'the new password, from a file')
    .option('--new-key-file <file>', 'a key file (at least 32 random bytes) instead of a password')
    .option('--json', 'print JSON')
    .action(async (flags: RepoFlags & { newPasswordFile?: string; newKeyFile?: string; json?: boolean }) => {
      if (flags.newPasswordFile !== undefined && flags.newKeyFile !== undefined) throw new BulwarkError('BAD_REQUEST', 'give --new-password-file or --new-key-file, not both');
      await withRepository(flags, async (repo) => {
        const credential = await newCredentialFrom(flags);
        const id = await repo.addKey(credential);
        if (flags.json) return printJson({ id });
        process.stdout.write(`added key ${shortId(id)}\n`);
      });
    });
  addRepoFlags(key.command('rm').description('remove a key (never the one used to open the repository)').argument('<id>', 'key id or a unique prefix'))
    .option('--json', 'print JSON')
    .action(async (id: string, flags: RepoFlags & { json?: boolean }) => {
      await withRepository(flags, async (repo) => {
        const removed = await repo.removeKey(id);
        if (flags.json) return printJson({ removed });
        process.stdout.write(`removed key ${shortId(removed)}\n`);
      });
    });
}
