import { z } from 'zod';
import { SecretDeliveryListSchema, SecretDeliveryViewSchema, type CreateSecretDelivery } from '../protocol/secret-delivery.js';
import type { ApiClient } from './api-client.js';

/** The secret delivery calls of the API, over an `ApiClient`. */
export class SecretDeliveriesClient {
  constructor(private readonly api: ApiClient) {}

  create(body: CreateSecretDelivery) {
    return this.api.call('POST', '/v1/secret-deliveries', SecretDeliveryViewSchema, { body });
  }

  list(query: { path?: string; all?: boolean } = {}) {
    return this.api.call('GET', '/v1/secret-deliveries', SecretDeliveryListSchema, { query: { path: query.path, all: query.all } });
  }

  async remove(id: string): Promise<void> {
    await this.api.call('DELETE', `/v1/secret-deliveries/${encodeURIComponent(id)}`, z.unknown());
  }
}
