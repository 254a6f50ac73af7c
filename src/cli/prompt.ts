import { createInterface } from 'node:readline';
import { BulwarkError } from '../core/errors.js';

/**
 * Asks for a secret on the terminal without echoing it. Refuses when there is no
 * terminal: a secret must then come from a flag meant for it (e.g. stdin).
 */
export function promptHidden(question: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) {
    return Promise.reject(new BulwarkError('BAD_REQUEST', `${question.replace(/:\s*$/, '')} is needed, but there is no terminal to ask on; pipe it with --password-stdin`));
  }
  return new Promise((resolve, reject) => {
    process.stderr.write(question);
    input.setRawMode(true);
    input.resume();
    let value = '';
    const done = (err?: Error): void => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new BulwarkError('BAD_REQUEST', 'cancelled'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    input.on('data', onData);
  });
}

/** Asks a visible question (a TOTP code). */
export function promptLine(question: string): Promise<string> {
  if (!process.stdin.isTTY) return Promise.reject(new BulwarkError('BAD_REQUEST', `${question.replace(/:\s*$/, '')} is needed; pass it as a flag`));
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  return new Promise((resolve) => rl.question(question, (answer) => {
    rl.close();
    resolve(answer.trim());
  }));
}

/** Reads all of stdin (for `--password-stdin` and `secret put -`), without the final newline. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
