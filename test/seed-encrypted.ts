import type { RecordCipher } from '../src/keyring/record-cipher.js';
import type { Store } from '../src/store/open.js';

/**
 * Users `seed-<i>` whose TOTP seed column holds `seed-value-<i>` encrypted through
 * the keyring: many records for a re-wrap to move (tests and bench:keyring).
 */
export async function seedEncryptedRecords(store: Store, cipher: RecordCipher, from: number, count: number): Promise<void> {
  const now = Date.now();
  for (let i = from; i < from + count; i += 500) {
    const rows = [];
    for (let j = i; j < Math.min(from + count, i + 500); j++) {
      const id = `u_${String(j).padStart(7, '0')}`;
      rows.push({
        id,
        name: `seed-${j}`,
        roles: '[]',
        password_hash: 'scrypt$unused',
        totp_secret: await cipher.encrypt(Buffer.from(`seed-value-${j}`), { table: 'users.totp_secret', id, version: 1 }),
        totp_algorithm: 'SHA1',
        totp_pending: null,
        totp_last_step: null,
        mfa_enrolled_at: now,
        locked_at: null,
        failed_logins: 0,
        created_at: now,
        updated_at: now,
        last_login_at: null,
      });
    }
    await store.db.insertInto('users').values(rows).execute();
  }
}
