import { buildClientHello } from './client-hello.js';
import { probe, type ProbeOutcome } from './probe.js';
import type { TaskPool } from './pool.js';
import type { TlsVersion } from './versions.js';

export interface ProberOptions {
  /** A resolved address: every probe of a scan reaches the same machine, whatever DNS round-robin does. */
  address: string;
  port: number;
  serverName?: string;
  pool: TaskPool;
  /** Per connection. */
  timeoutMs: number;
  signal: AbortSignal;
}

/** Offers cipher suites to one endpoint through the scan's connection pool, counting handshakes. */
export class Prober {
  private count = 0;

  constructor(private readonly opts: ProberOptions) {}

  get handshakes(): number {
    return this.count;
  }

  offer(version: TlsVersion, suites: readonly number[], wantCertificates = false): Promise<ProbeOutcome> {
    const { address, port, serverName, pool, timeoutMs, signal } = this.opts;
    return pool.run(() => {
      this.count++;
      const hello = buildClientHello({ version, cipherSuites: suites, ...(serverName === undefined ? {} : { serverName }) });
      return probe({ address, port, hello, timeoutMs, signal, wantCertificates });
    }, signal);
  }
}
