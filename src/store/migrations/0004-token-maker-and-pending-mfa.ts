import type { Migration } from 'kysely';

/**
 * API tokens remember the user who made them (a token must not outlive its
 * maker's rights), and a replacement TOTP seed waits in its own column until it
 * is confirmed (the factor in use stays in force meanwhile).
 */
export const tokenMakerAndPendingMfa: Migration = {
  async up(db): Promise<void> {
    await db.schema.alterTable('api_tokens').addColumn('created_by', 'text').execute();
    await db.schema.alterTable('users').addColumn('totp_pending', 'text').execute();
  },
};
