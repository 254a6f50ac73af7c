// Throwaway certificates and servers on 127.0.0.1 for the scanner's tests. Keys
// are made at test time and never written to disk.
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { createServer, type TlsOptions } from 'node:tls';
import { createRootCa, encodeCertificate, type CaMaterial } from '../../pki/ca.js';
import { issueServerCertificate } from '../../pki/issue.js';
import { encodePem } from '../../pki/pem.js';
import { subtle, x509 } from '../../pki/provider.js';

export const DAY = 86_400_000;

export interface Endpoint {
  port: number;
  /** Connections ever accepted. */
  accepted(): number;
  /** Resolves once every accepted connection is closed: the scanner left none open. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export interface TestPki {
  ca: CaMaterial;
  /** A P-256 leaf for `localhost` and 127.0.0.1, valid from a day before `now` for 90 days, with its chain. */
  leaf: { keyPem: string; chainPem: string };
}

export async function testPki(now: number): Promise<TestPki> {
  const ca = await createRootCa({ clusterName: 'tls-scan-test', notBefore: now - DAY, notAfter: now + 365 * DAY });
  const leaf = await issueServerCertificate(ca, {
    commonName: 'localhost',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    notBefore: now - DAY,
    notAfter: now + 90 * DAY,
  });
  return { ca, leaf };
}

/**
 * Everything a careless server could get wrong in one certificate: self-signed,
 * expired on 2020-01-02, RSA-1024, signed with SHA-1, for `weak.test`.
 */
export async function weakCertificate(): Promise<{ keyPem: string; certPem: string }> {
  const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-1', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 1024 };
  const keys = await subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=weak.test',
    notBefore: new Date('2019-01-01T00:00:00Z'),
    notAfter: new Date('2020-01-02T00:00:00Z'),
    keys,
    signingAlgorithm: algorithm,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'weak.test' }])],
  });
  return { keyPem: encodePem(await subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY'), certPem: encodeCertificate(cert) };
}

/** A Node TLS server that completes handshakes and hangs up; client errors (the scanner's aborted hellos) are expected. */
export async function startTlsServer(options: TlsOptions): Promise<Endpoint> {
  const server = createServer(options, (socket) => socket.end());
  server.on('tlsClientError', () => undefined);
  return listen(server);
}

/** A plain TCP server; `onConnection` decides what the client sees (a banner, a close, silence). */
export async function startTcpServer(onConnection: (socket: Socket) => void): Promise<Endpoint> {
  const server = createTcpServer((socket) => {
    socket.on('error', () => undefined);
    // Read (and drop) what the client sends, so the server notices when it hangs up.
    socket.resume();
    onConnection(socket);
  });
  return listen(server);
}

async function listen(server: TcpServer): Promise<Endpoint> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let onIdle: (() => void)[] = [];
  server.on('connection', (socket: Socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      if (sockets.size === 0) {
        for (const resolve of onIdle) resolve();
        onIdle = [];
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    accepted: () => accepted,
    idle: () => (sockets.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => onIdle.push(resolve))),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on: bound, read, released. */
export async function closedPort(): Promise<number> {
  const endpoint = await startTcpServer((socket) => socket.destroy());
  await endpoint.close();
  return endpoint.port;
}
