import type { Clock } from '../core/clock.js';
import { BulwarkError } from '../core/errors.js';
import type { CaMaterial } from '../pki/ca.js';
import { createCrl } from '../pki/crl.js';
import { issueNodeCertificate, issueServerCertificate } from '../pki/issue.js';
import type { Store } from '../store/open.js';
import { getCertificate, insertCertificate, listRevokedCertificates, type CertificateRecord } from '../store/certificates.js';
import { setNodeCertificate } from '../store/nodes.js';
import { normaliseSerial } from '../core/ids.js';

/** Clock skew tolerated between server and agents: certificates start a minute early. */
const BACKDATE_MS = 60_000;
const LISTENER_CERT_LIFETIME_MS = 90 * 86_400_000;
const CRL_LIFETIME_MS = 3_600_000;
/** How long a built CRL is served before the next request rebuilds it. */
const CRL_CACHE_MS = 60_000;

export interface ListenerCertificate {
  certPem: string;
  keyPem: string;
  chainPem: string;
  notAfter: number;
}

/** Issues, checks and lists the cluster's certificates; the CA key stays in this object. */
export class PkiService {
  readonly #ca: CaMaterial;
  readonly #clusterName: string;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #nodeLifetimeMs: number;
  #crl: { pem: string; builtAt: number; generation: number } | undefined;
  #crlBuilding: { generation: number; pem: Promise<string> } | undefined;
  #revocationGeneration = 0;

  constructor(opts: { ca: CaMaterial; clusterName: string; store: Store; clock: Clock; nodeLifetimeMs: number }) {
    this.#ca = opts.ca;
    this.#clusterName = opts.clusterName;
    this.#store = opts.store;
    this.#clock = opts.clock;
    this.#nodeLifetimeMs = opts.nodeLifetimeMs;
  }

  get caCertPem(): string {
    return this.#ca.certPem;
  }

  async issueListenerCertificate(names: string[]): Promise<ListenerCertificate> {
    const now = this.#clock.now();
    const ips = names.filter((n) => isIpAddress(n));
    const dns = names.filter((n) => !isIpAddress(n));
    const notAfter = now + LISTENER_CERT_LIFETIME_MS;
    const cert = await issueServerCertificate(this.#ca, {
      commonName: dns[0] ?? ips[0] ?? 'bulwark',
      dnsNames: dns,
      ipAddresses: ips,
      notBefore: now - BACKDATE_MS,
      notAfter,
    });
    return { certPem: cert.certPem, keyPem: cert.keyPem, chainPem: cert.chainPem, notAfter };
  }

  /** Verifies the CSR and issues a node certificate; the identity comes from the server, never from the CSR. */
  async issueNodeCertificate(nodeId: string, csrPem: string): Promise<CertificateRecord & { pem: string }> {
    const now = this.#clock.now();
    // The backdate counts towards the validity the agent renews at 2/3 of: with a
    // lifetime not far above it, the certificate would be due for renewal at once,
    // and the agent would renew in a loop. Keep it a small share of the lifetime.
    const backdate = Math.min(BACKDATE_MS, Math.floor(this.#nodeLifetimeMs / 10));
    const cert = await issueNodeCertificate(this.#ca, {
      csrPem,
      clusterName: this.#clusterName,
      nodeId,
      notBefore: now - backdate,
      notAfter: now + this.#nodeLifetimeMs,
    });
    const record: CertificateRecord = {
      serial: cert.serial,
      nodeId,
      fingerprint: cert.fingerprint,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
      issuedAt: now,
      revokedAt: null,
      revokeReason: null,
    };
    await insertCertificate(this.#store.db, record);
    await setNodeCertificate(this.#store.db, nodeId, record.serial, record.notAfter);
    return { ...record, pem: cert.certPem };
  }

  /**
   * Checks a client certificate presented on the agent listener against the
   * database: issued here, to this node, not revoked, not expired by our clock.
   */
  async checkNodeCertificate(serialHex: string, nodeId: string): Promise<CertificateRecord> {
    const serial = normaliseSerial(serialHex);
    const record = await getCertificate(this.#store.db, serial);
    if (record === undefined || record.nodeId !== nodeId) {
      throw new BulwarkError('CERT_UNKNOWN', `certificate ${serial} was not issued to node ${nodeId} by this cluster`);
    }
    if (record.revokedAt !== null) throw new BulwarkError('CERT_REVOKED', `certificate ${serial} was revoked (${record.revokeReason ?? 'no reason given'})`);
    if (record.notAfter <= this.#clock.now()) throw new BulwarkError('CERT_REVOKED', `certificate ${serial} has expired`);
    return record;
  }

  /**
   * Tells the CRL cache that this process revoked certificates, so the next
   * `crlPem()` rebuilds instead of waiting out the cache. Revocations by other
   * replicas show within CRL_CACHE_MS.
   */
  revocationsChanged(): void {
    this.#revocationGeneration++;
  }

  /**
   * The current CRL. The route is public, so a CRL is built at most once per
   * CRL_CACHE_MS, or sooner after `revocationsChanged()`, and never two at once:
   * concurrent callers share the build in flight.
   */
  async crlPem(): Promise<string> {
    for (;;) {
      const generation = this.#revocationGeneration;
      const now = this.#clock.now();
      const cached = this.#crl;
      if (cached && cached.generation === generation && now >= cached.builtAt && now - cached.builtAt < CRL_CACHE_MS) return cached.pem;
      const building = this.#crlBuilding;
      if (building === undefined) break;
      // A build started after the last revocation reflects it: share it. One
      // started before may have missed it: let it finish, then look again.
      if (building.generation === generation) return building.pem;
      await building.pem.catch(() => undefined);
    }
    const generation = this.#revocationGeneration;
    const pem = this.#buildCrl(generation);
    const building = { generation, pem };
    this.#crlBuilding = building;
    const clear = (): void => {
      if (this.#crlBuilding === building) this.#crlBuilding = undefined;
    };
    pem.then(clear, clear);
    return pem;
  }

  async #buildCrl(generation: number): Promise<string> {
    const now = this.#clock.now();
    // Expired certificates are refused anyway; RFC 5280 §3.3 lets the CRL drop them.
    const revoked = await listRevokedCertificates(this.#store.db, { now });
    // Seconds since the epoch: increases across restarts and replicas without shared state.
    const crlNumber = Math.floor(now / 1000);
    const pem = await createCrl(this.#ca, { revoked, thisUpdate: now - BACKDATE_MS, nextUpdate: now + CRL_LIFETIME_MS, crlNumber });
    this.#crl = { pem, builtAt: now, generation };
    return pem;
  }
}

function isIpAddress(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(':');
}
