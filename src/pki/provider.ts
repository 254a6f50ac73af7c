// reflect-metadata must be evaluated before @peculiar/x509 (its ASN.1 schemas use
// decorators), so every pki module reaches x509 through this file, never directly.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };

export type CryptoKey = webcrypto.CryptoKey;

export const subtle = webcrypto.subtle;

export const EC_KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;

export const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
