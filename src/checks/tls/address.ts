import { lookup } from 'node:dns/promises';
import { connect, isIP } from 'node:net';

/**
 * The one address a scan talks to. Probing a name through DNS on every
 * connection could spread a scan over several machines (round-robin) and mix
 * their answers; so the name is resolved once, and when it has several
 * addresses (`localhost` as ::1 and 127.0.0.1) the first that accepts a TCP
 * connection is used.
 */
export async function resolveAddress(
  host: string,
  port: number,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<{ address: string } | { error: string }> {
  if (isIP(host) !== 0) return { address: host };
  let addresses: string[];
  try {
    addresses = (await untilAborted(lookup(host, { all: true }), signal)).map((a) => a.address);
  } catch (err) {
    if (signal.aborted) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    return { error: `cannot resolve ${host}: ${code ?? (err instanceof Error ? err.message : String(err))}` };
  }
  const [first, ...others] = addresses;
  if (first === undefined) return { error: `cannot resolve ${host}: no address` };
  if (others.length === 0) return { address: first };
  for (const address of addresses) {
    if ((await connectable(address, port, timeoutMs, signal)) === undefined) return { address };
  }
  // None accepts a connection: the probes will say how the first one fails.
  return { address: first };
}

/** undefined when a TCP connection opens, else why not. */
function connectable(address: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<string | undefined> {
  return untilAborted(
    new Promise<string | undefined>((resolve) => {
      const socket = connect({ host: address, port, timeout: timeoutMs });
      const onAbort = (): void => done('aborted');
      const done = (reason: string | undefined): void => {
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        resolve(reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => done(undefined));
      socket.once('timeout', () => done('timeout'));
      socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    }),
    signal,
  );
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
