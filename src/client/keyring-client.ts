import { KeyringStatusSchema, RekeyedSchema, RotatedSchema, SealStatusSchema, type RekeyRequest } from '../protocol/keyring.js';
import type { ApiClient } from './api-client.js';

/** Seal status, unseal, seal and key management over an `ApiClient`. */
export class KeyringClient {
  constructor(private readonly api: ApiClient) {}

  sealStatus() {
    return this.api.call('GET', '/v1/sys/seal-status', SealStatusSchema);
  }

  unseal(body: { passphrase?: string; share?: string; reset?: boolean }) {
    return this.api.call('POST', '/v1/sys/unseal', SealStatusSchema, { body });
  }

  seal() {
    return this.api.call('POST', '/v1/sys/seal', SealStatusSchema);
  }

  status() {
    return this.api.call('GET', '/v1/keys/status', KeyringStatusSchema);
  }

  rotate() {
    return this.api.call('POST', '/v1/keys/rotate', RotatedSchema);
  }

  rekey(body: RekeyRequest) {
    return this.api.call('POST', '/v1/keys/rekey', RekeyedSchema, { body, timeoutMs: 60_000 });
  }
}
