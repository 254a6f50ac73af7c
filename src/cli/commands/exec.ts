import type { Command } from 'commander';
import { parseDuration } from '../../core/duration.js';
import { BulwarkError } from '../../core/errors.js';
import { parseSelector } from '../../core/labels.js';
import { EXEC_LIMITS } from '../../protocol/agent.js';
import { ExecEventSchema, execSucceeded, type ExecEvent } from '../../protocol/exec.js';
import { clientFrom, type ClientFlags } from '../context.js';
import { addClientFlags } from './token.js';

interface ExecFlags extends ClientFlags {
  selector: string;
  timeout: string;
  json?: boolean;
}

/** Silence tolerated on the stream beyond the command's own timeout: the server's answer grace and some. */
const STREAM_SLACK_MS = 30_000;

export function registerExec(program: Command): void {
  const cmd = addClientFlags(
    program
      .command('exec')
      .description('run a command on the nodes a selector matches, through their agents (no shell); exits 1 if any node failed')
      .argument('<command...>', 'the command and its arguments, after --'),
  )
    .requiredOption('--selector <selector>', 'label selector of the nodes, e.g. "env=staging,role in (web,db)"')
    .option('--timeout <duration>', 'per node: SIGTERM after this, SIGKILL 2 s later (at most 1h)', '60s')
    .option('--json', 'print the events as NDJSON, one JSON object a line, as they come');
  cmd.addHelpText(
    'after',
    `
The command runs only on nodes you may exec on whose agent enables exec
(agent run --enable-exec, or exec.enabled in the agent's config.yaml) and, when
the agent has an allow-list, lists the command. It is started without a shell:
write  -- sh -c '…'  for pipes or globs (and allow that on the node).

Examples:
  $ bulwark exec --selector env=staging -- uptime
  $ bulwark exec --selector 'role in (web)' --timeout 5m -- systemctl status nginx
  $ bulwark exec --selector env=prod --json -- df -h / | jq -c 'select(.type=="exit")'`,
  );
  cmd.action(async (command: string[], flags: ExecFlags) => {
    parseSelector(flags.selector);
    const timeoutMs = parseDuration(flags.timeout);
    if (timeoutMs < 1000 || timeoutMs > EXEC_LIMITS.maxTimeoutMs) throw new BulwarkError('BAD_REQUEST', `--timeout must be between 1s and 1h, not "${flags.timeout}"`);
    const timeoutSeconds = Math.ceil(timeoutMs / 1000);
    const client = await clientFrom(flags);
    const events = client.stream('POST', '/v1/exec', { selector: flags.selector, argv: command, timeoutSeconds }, { timeoutMs: timeoutSeconds * 1000 + STREAM_SLACK_MS });
    const printer = flags.json ? new JsonPrinter() : new PrefixPrinter();
    let done: Extract<ExecEvent, { type: 'done' }> | undefined;
    for await (const raw of events) {
      const parsed = ExecEventSchema.safeParse(raw);
      if (!parsed.success) throw new BulwarkError('INTERNAL', "an event of POST /v1/exec does not match this client's protocol version");
      printer.print(parsed.data);
      if (parsed.data.type === 'done') done = parsed.data;
    }
    if (!done) throw new BulwarkError('UNREACHABLE', 'the stream ended before every node reported: the outcome on some nodes is unknown');
    if (done.failed > 0) process.exitCode = 1;
  });
}

class JsonPrinter {
  print(event: ExecEvent): void {
    process.stdout.write(`${JSON.stringify(event)}\n`);
  }
}

/** Output as `[node] line`, whole lines at a time per node and stream, then one line per node's end and a summary. */
class PrefixPrinter {
  readonly #names = new Map<string, string>();
  readonly #partial = new Map<string, string>();
  readonly #failed: string[] = [];
  #width = 0;

  print(event: ExecEvent): void {
    switch (event.type) {
      case 'start':
        for (const n of event.nodes) this.#names.set(n.id, n.name);
        this.#width = Math.max(0, ...event.nodes.map((n) => n.name.length));
        return;
      case 'output': {
        const key = `${event.node}\u0000${event.stream}`;
        const text = (this.#partial.get(key) ?? '') + event.data;
        const cut = text.lastIndexOf('\n');
        this.#partial.set(key, cut < 0 ? text : text.slice(cut + 1));
        if (cut >= 0) this.#write(event.stream, event.node, text.slice(0, cut).split('\n'));
        return;
      }
      case 'exit': {
        for (const stream of ['stdout', 'stderr'] as const) {
          const key = `${event.node}\u0000${stream}`;
          const rest = this.#partial.get(key);
          this.#partial.delete(key);
          if (rest) this.#write(stream, event.node, [rest]);
        }
        const name = this.#name(event.node);
        if (!execSucceeded(event)) this.#failed.push(name);
        const how = event.error
          ? `failed: ${event.error.code}: ${event.error.message}`
          : event.signal
            ? `killed by ${event.signal}`
            : `exit ${event.exitCode ?? '?'}`;
        const note = event.truncated ? ' (output truncated)' : '';
        this.#write('stderr', event.node, [`${how}${note}`]);
        return;
      }
      case 'done': {
        const ok = event.total - event.failed;
        const which = this.#failed.length > 0 ? ` (${this.#failed.join(', ')})` : '';
        process.stderr.write(`${event.total} node${event.total === 1 ? '' : 's'}: ${ok} succeeded, ${event.failed} failed${which}\n`);
        return;
      }
    }
  }

  #name(id: string): string {
    return this.#names.get(id) ?? id;
  }

  #write(stream: 'stdout' | 'stderr', node: string, lines: string[]): void {
    const prefix = `[${this.#name(node)}]`.padEnd(this.#width + 2);
    const out = stream === 'stdout' ? process.stdout : process.stderr;
    out.write(lines.map((l) => `${prefix} ${l}\n`).join(''));
  }
}
