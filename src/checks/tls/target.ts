import { isIP } from 'node:net';
import { BulwarkError } from '../../core/errors.js';

export interface TlsTarget {
  /** A DNS name, an IPv4 address or an IPv6 address (without brackets). */
  host: string;
  port: number;
  /** SNI and the name the certificate must match, when it differs from `host` (e.g. scanning an IP for a virtual host). */
  serverName?: string;
}

const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
const HOST_NAME = new RegExp(`^(?=.{1,253}\\.?$)${LABEL}(?:\\.${LABEL})*\\.?$`);

/** Parses `host:port`, `[v6]:port`; anything else is INVALID_TARGET. */
export function parseTarget(text: string): TlsTarget {
  const input = text.trim();
  const bracketed = /^\[([^\]]+)\]:([^:]*)$/.exec(input);
  let host: string | undefined;
  let port: string | undefined;
  if (bracketed !== null) {
    host = bracketed[1];
    port = bracketed[2];
    if (host === undefined || isIP(host) !== 6) throw invalid(text, 'brackets hold an IPv6 address');
  } else {
    const colon = input.lastIndexOf(':');
    if (colon <= 0) throw invalid(text, 'expected host:port');
    host = input.slice(0, colon);
    port = input.slice(colon + 1);
    if (host.includes(':')) throw invalid(text, 'write an IPv6 address in brackets, as [::1]:443');
  }
  return validateTarget({ host, port: parsePort(text, port ?? '') });
}

/** Checks a target given as an object (from configuration or the API) the way parseTarget checks text. */
export function validateTarget(target: TlsTarget): TlsTarget {
  const shown = `${target.host}:${target.port}`;
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) throw invalid(shown, 'the port must be 1–65535');
  if (isIP(target.host) === 0 && !HOST_NAME.test(target.host)) throw invalid(shown, `"${target.host}" is not a host name or IP address`);
  if (target.serverName !== undefined && (isIP(target.serverName) !== 0 || !HOST_NAME.test(target.serverName))) {
    throw invalid(shown, `server name "${target.serverName}" is not a DNS name`);
  }
  return target.serverName === undefined ? { host: target.host, port: target.port } : { ...target };
}

/** `host:port`, with an IPv6 address in brackets: the finding location and key. */
export function formatTarget(target: TlsTarget): string {
  return isIP(target.host) === 6 ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}

/** The name sent as SNI and checked against the certificate; none for a bare IP (RFC 6066 forbids IP SNI). */
export function serverNameOf(target: TlsTarget): string | undefined {
  const name = target.serverName ?? (isIP(target.host) === 0 ? target.host : undefined);
  return name?.replace(/\.$/, '').toLowerCase();
}

function parsePort(text: string, port: string): number {
  if (!/^\d{1,5}$/.test(port)) throw invalid(text, 'the port must be a number');
  return Number(port);
}

function invalid(text: string, why: string): BulwarkError {
  return new BulwarkError('INVALID_TARGET', `TLS target "${text}" is not valid: ${why}`);
}
