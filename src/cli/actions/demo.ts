import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BulwarkError } from '../../core/errors.js';
import { silentLogger } from '../../core/logger.js';
import { Agent } from '../../agent/agent.js';
import { joinCluster } from '../../agent/join.js';
import { writeDemoRoot } from '../demo-fixtures.js';
import { Progress } from '../output.js';
import { untilSignal } from '../signals.js';
import { printServerBanner, startServer } from './run-server.js';

export interface DemoFlags {
  nodes: string;
  dataDir?: string;
  apiAddr: string;
  agentAddr: string;
}

/** `bulwark demo`: a server and N in-process agents, each with its own key, certificate and fixture root. */
export async function runDemo(flags: DemoFlags): Promise<void> {
  const count = Number(flags.nodes);
  if (!Number.isInteger(count) || count < 1 || count > 500) throw new BulwarkError('BAD_REQUEST', `--nodes must be a whole number from 1 to 500, not "${flags.nodes}"`);
  const dataDir = flags.dataDir ?? (await mkdtemp(join(tmpdir(), 'bulwark-demo-')));
  const server = await startServer({ dataDir, apiAddr: flags.apiAddr, agentAddr: flags.agentAddr, tlsMin: '1.3', heartbeatInterval: '2s', logLevel: 'warn' });
  printServerBanner(server);
  const agents: Agent[] = [];
  try {
    const progress = new Progress('enrolling agents', count);
    for (let i = 0; i < count; i++) {
      const root = join(dataDir, 'demo', `node-${i + 1}`, 'root');
      const { hostname, labels } = await writeDemoRoot(root, i);
      const { token } = await server.joinTokens.create({ ttlMs: 60_000, uses: 1, labels, createdBy: 'bulwark demo' });
      const agentDir = join(dataDir, 'demo', `node-${i + 1}`, 'agent');
      await joinCluster({ servers: [server.agentUrl], token, caPin: server.caPin, dataDir: agentDir, hostname });
      agents.push(await Agent.start({ dataDir: agentDir, root, logger: silentLogger }));
      progress.update(i + 1);
    }
    progress.done();
    const flag = `--data-dir ${dataDir}`;
    process.stdout.write(
      `\n${count} simulated agents joined. Try, in another terminal:\n` +
        `  bulwark nodes ls ${flag}\n  bulwark nodes ls ${flag} --selector env=prod\n  bulwark nodes show web-1 ${flag}\n` +
        `  bulwark events --follow ${flag}\n  bulwark nodes rm cache-3 ${flag}\n\nCtrl-C stops the demo.\n`,
    );
    await untilSignal();
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await server.close();
  }
}
