import type { Clock } from '../core/clock.js';
import { BulwarkError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { BackoffLimiter } from '../core/rate-limiter.js';
import { mintToken, parseToken, secretMatches } from '../core/secret-token.js';
import { randomBytes } from 'node:crypto';
import type { RecordBinding, RecordCipher } from '../keyring/record-cipher.js';
import { checkPasswordPolicy, hashPassword, verifyAgainstDummy, verifyPassword } from '../access/password.js';
import { base32Encode, generateTotpSecret, otpauthUri, verifyTotp } from '../access/totp.js';
import type { Store } from '../store/open.js';
import {
  claimTotpStep,
  countUsersWithRole,
  deleteUser,
  getUser,
  getUserByName,
  insertUser,
  listUsers,
  recordFailedLogin,
  updateUser,
  type UserRecord,
} from '../store/users.js';
import { getSession, insertSession, listSessions, revokeSession, revokeUserSessions, touchSession, type SessionRecord } from '../store/sessions.js';
import { getApiToken, insertApiToken, listApiTokens, revokeApiToken, touchApiToken, type ApiTokenRecord } from '../store/api-tokens.js';
import type { AccessService, Principal } from './access-service.js';

export const SESSION_PREFIX = 'bws';
export const API_TOKEN_PREFIX = 'bwt';
export const BOOTSTRAP_TOKEN_NAME = 'bootstrap-admin';
const USER_NAME = /^[a-z][a-z0-9._-]{0,62}$/;
const TOTP_ISSUER = 'Bulwark';
/** last_used_at is written at most this often per credential, so reads do not all turn into writes. */
const TOUCH_EVERY_MS = 60_000;

export interface LoginResult {
  token: string;
  expiresAt: number;
  user: string;
  /** true when the account must enrol MFA before it can do anything else. */
  mfaEnrollmentRequired: boolean;
}

export interface LoginAttempt {
  user: string;
  password: string;
  totp?: string | undefined;
  source: string;
}

/** Reports what happened at a login, for the audit log (no secrets). */
export type LoginObserver = (outcome: { user: string; source: string; ok: boolean; reason: string }) => Promise<void>;

/**
 * Users, their passwords and second factors, sessions and API tokens. Every
 * credential is stored only as a hash (tokens, passwords) or as keyring
 * ciphertext (TOTP seeds).
 */
export class IdentityService {
  readonly #bySource: BackoffLimiter;
  readonly #byAccount: BackoffLimiter;
  readonly #touched = new Map<string, number>();
  readonly #limitedAudited = new Map<string, number>();

  constructor(
    private readonly deps: {
      store: Store;
      clock: Clock;
      cipher: RecordCipher;
      access: AccessService;
      sessionTtlMs: number;
      onLogin: LoginObserver;
    },
  ) {
    this.#bySource = new BackoffLimiter({ free: 10, baseMs: 1000, capMs: 15 * 60_000, clock: deps.clock });
    this.#byAccount = new BackoffLimiter({ free: 5, baseMs: 1000, capMs: 15 * 60_000, clock: deps.clock });
  }

  // ---- users -------------------------------------------------------------

  /** Creates a user; without a password one is generated and returned once. */
  async createUser(caller: Principal | undefined, input: { name: string; roles: string[]; password?: string | undefined }): Promise<{ user: UserRecord; password: string | undefined }> {
    if (caller) assertMayGrant(caller, input.roles, undefined);
    if (!USER_NAME.test(input.name)) {
      throw new BulwarkError('BAD_REQUEST', `user name "${input.name}" is invalid: start with a letter; use a-z, 0-9, ".", "_" or "-" (at most 63)`);
    }
    if (input.roles.length === 0) throw new BulwarkError('BAD_REQUEST', 'give the user at least one role (--role NAME)');
    await this.deps.access.assertRolesExist(input.roles);
    if (await getUserByName(this.deps.store.db, input.name)) throw new BulwarkError('CONFLICT', `user "${input.name}" already exists`);
    const generated = input.password === undefined ? randomBytes(18).toString('base64url') : undefined;
    const password = input.password ?? (generated as string);
    checkPasswordPolicy(password);
    const now = this.deps.clock.now();
    const user: UserRecord = {
      id: newId('user'),
      name: input.name,
      roles: [...new Set(input.roles)],
      passwordHash: await hashPassword(password),
      totpSecret: null,
      totpAlgorithm: null,
      totpPending: null,
      totpLastStep: null,
      mfaEnrolledAt: null,
      lockedAt: null,
      failedLogins: 0,
      createdAt: now,
      updatedAt: now,
      lastLoginAt: null,
    };
    await insertUser(this.deps.store.db, user);
    return { user, password: generated };
  }

  listUsers(): Promise<UserRecord[]> {
    return listUsers(this.deps.store.db);
  }

  async getUser(name: string): Promise<UserRecord> {
    const user = await getUserByName(this.deps.store.db, name);
    if (!user) throw new BulwarkError('NOT_FOUND', `user "${name}" does not exist; list users with \`bulwark user ls\``);
    return user;
  }

  async removeUser(name: string): Promise<void> {
    const user = await this.getUser(name);
    await this.#assertNotLastAdmin(user, 'remove');
    await revokeUserSessions(this.deps.store.db, user.id, this.deps.clock.now());
    await deleteUser(this.deps.store.db, user.id);
  }

  async setLocked(name: string, locked: boolean): Promise<UserRecord> {
    const user = await this.getUser(name);
    const now = this.deps.clock.now();
    if (locked) {
      await this.#assertNotLastAdmin(user, 'lock');
      await updateUser(this.deps.store.db, user.id, { lockedAt: now }, now);
      await revokeUserSessions(this.deps.store.db, user.id, now);
    } else {
      await updateUser(this.deps.store.db, user.id, { lockedAt: null, failedLogins: 0 }, now);
      this.#byAccount.succeed(user.name);
    }
    return this.getUser(name);
  }

  async setRoles(caller: Principal, name: string, roles: string[]): Promise<UserRecord> {
    const user = await this.getUser(name);
    assertMayGrant(caller, roles, user.id);
    if (roles.length === 0) throw new BulwarkError('BAD_REQUEST', 'a user needs at least one role');
    await this.deps.access.assertRolesExist(roles);
    if (user.roles.includes('admin') && !roles.includes('admin')) await this.#assertNotLastAdmin(user, 'take the admin role from');
    await updateUser(this.deps.store.db, user.id, { roles: [...new Set(roles)] }, this.deps.clock.now());
    return this.getUser(name);
  }

  async setPassword(name: string, password: string): Promise<void> {
    checkPasswordPolicy(password);
    const user = await this.getUser(name);
    const now = this.deps.clock.now();
    await updateUser(this.deps.store.db, user.id, { passwordHash: await hashPassword(password) }, now);
    await revokeUserSessions(this.deps.store.db, user.id, now);
  }

  async #assertNotLastAdmin(user: UserRecord, what: string): Promise<void> {
    if (user.roles.includes('admin') && user.lockedAt === null && (await countUsersWithRole(this.deps.store.db, 'admin')) <= 1) {
      throw new BulwarkError('CONFLICT', `cannot ${what} "${user.name}": it is the last admin user; add another admin first`);
    }
  }

  // ---- login, sessions ------------------------------------------------------

  /**
   * Password, then (if enrolled) a TOTP code. Unknown users cost the same time as
   * known ones, and the answer does not say which part was wrong. Failures back
   * off per account and per source address.
   */
  async login(attempt: LoginAttempt): Promise<LoginResult> {
    const wait = Math.max(this.#bySource.retryAfter(attempt.source), this.#byAccount.retryAfter(attempt.user));
    if (wait > 0) {
      // On record once a minute per account and source, not once per attempt: a flood of refused logins must not flood the log.
      const key = `${attempt.user}\u0000${attempt.source}`;
      const now = this.deps.clock.now();
      if (now - (this.#limitedAudited.get(key) ?? 0) >= 60_000) {
        if (this.#limitedAudited.size > 10_000) this.#limitedAudited.clear();
        this.#limitedAudited.set(key, now);
        await this.deps.onLogin({ user: attempt.user, source: attempt.source, ok: false, reason: 'rate limited' });
      }
      throw new BulwarkError('RATE_LIMITED', `too many failed logins; retry in ${Math.ceil(wait / 1000)} s`, { retryAfterMs: wait });
    }
    // Counted as a failure before the slow checks and cleared on success, so
    // attempts sent in parallel back off exactly as attempts sent one by one.
    this.#bySource.fail(attempt.source);
    this.#byAccount.fail(attempt.user);
    const user = await getUserByName(this.deps.store.db, attempt.user);
    const verdict = user ? await verifyPassword(attempt.password, user.passwordHash) : { ok: await verifyAgainstDummy(attempt.password), needsRehash: false };
    if (!user || !verdict.ok) return this.#failLogin(attempt, user, 'bad user name or password');
    if (user.lockedAt !== null) {
      await this.deps.onLogin({ user: user.name, source: attempt.source, ok: false, reason: 'account locked' });
      throw new BulwarkError('ACCOUNT_LOCKED', `account "${user.name}" is locked; ask an administrator to unlock it`);
    }
    let mfa = false;
    if (user.mfaEnrolledAt !== null) {
      if (attempt.totp === undefined || attempt.totp === '') {
        throw new BulwarkError('MFA_REQUIRED', 'this account needs a one-time code: pass --totp CODE or enter it when asked');
      }
      await this.#checkTotp(user, attempt);
      mfa = true;
    }
    const now = this.deps.clock.now();
    await updateUser(this.deps.store.db, user.id, { failedLogins: 0, lastLoginAt: now, ...(verdict.needsRehash ? { passwordHash: await hashPassword(attempt.password) } : {}) }, now);
    this.#byAccount.succeed(user.name);
    this.#bySource.succeed(attempt.source);
    const minted = mintToken(SESSION_PREFIX);
    const session: SessionRecord = {
      id: minted.id,
      secretHash: minted.secretHash,
      userId: user.id,
      createdAt: now,
      expiresAt: now + this.deps.sessionTtlMs,
      lastUsedAt: null,
      revokedAt: null,
      source: attempt.source,
      mfa,
    };
    const principal: Principal = { kind: 'session', id: session.id, actor: user.name, userId: user.id, roles: user.roles, mfa };
    const mfaEnrollmentRequired = await this.deps.access.requiresMfa(principal);
    // Audited before the session exists: a login the log cannot record does not happen.
    await this.deps.onLogin({ user: user.name, source: attempt.source, ok: true, reason: mfa ? 'password and TOTP' : 'password' });
    await insertSession(this.deps.store.db, session);
    return { token: minted.token, expiresAt: session.expiresAt, user: user.name, mfaEnrollmentRequired };
  }

  async #checkTotp(user: UserRecord, attempt: LoginAttempt): Promise<void> {
    const secret = await this.deps.cipher.decrypt(user.totpSecret ?? '', totpBinding(user.id));
    const result = verifyTotp(secret, attempt.totp ?? '', this.deps.clock.now(), {
      algorithm: (user.totpAlgorithm ?? 'SHA1') as 'SHA1' | 'SHA256',
      lastUsedStep: user.totpLastStep,
    });
    // The conditional write makes a code single-use even when two replicas see it at once.
    if (!result.ok || !(await claimTotpStep(this.deps.store.db, user.id, result.step))) {
      await this.#failLogin(attempt, user, result.ok ? 'replayed TOTP code' : `${result.reason} TOTP code`);
    }
  }

  async #failLogin(attempt: LoginAttempt, user: UserRecord | undefined, reason: string): Promise<never> {
    if (user) await recordFailedLogin(this.deps.store.db, user.id, this.deps.clock.now());
    await this.deps.onLogin({ user: attempt.user, source: attempt.source, ok: false, reason });
    throw new BulwarkError('UNAUTHENTICATED', 'login failed: wrong user name, password or code');
  }

  async logout(principal: Principal): Promise<void> {
    if (principal.kind === 'session') await revokeSession(this.deps.store.db, principal.id, this.deps.clock.now());
  }

  listSessions(userId?: string): Promise<SessionRecord[]> {
    return listSessions(this.deps.store.db, { ...(userId ? { userId } : {}), activeAt: this.deps.clock.now() });
  }

  async revokeSession(id: string): Promise<void> {
    if (!(await revokeSession(this.deps.store.db, id, this.deps.clock.now()))) throw new BulwarkError('NOT_FOUND', `no live session ${id}`);
  }

  // ---- MFA --------------------------------------------------------------------

  /**
   * Starts (or restarts) enrolment: a new secret waits, sealed, for its first
   * code, while the factor in use (if any) stays in force. Replacing a factor
   * takes a current code from it, so a stolen session cannot swap in its own.
   */
  async beginMfaEnrollment(principal: Principal, currentCode?: string): Promise<{ uri: string; secret: string }> {
    const user = await this.#userOf(principal);
    if (user.mfaEnrolledAt !== null) {
      if (currentCode === undefined || currentCode === '') {
        throw new BulwarkError('MFA_REQUIRED', 'MFA is already enrolled: give a current code (--code) to replace it');
      }
      await this.#checkTotp(user, { user: user.name, password: '', totp: currentCode, source: 'mfa-enroll' });
    }
    const secret = generateTotpSecret('SHA1');
    await updateUser(this.deps.store.db, user.id, { totpPending: await this.deps.cipher.encrypt(secret, pendingTotpBinding(user.id)) }, this.deps.clock.now());
    const encoded = base32Encode(secret);
    return { uri: otpauthUri({ issuer: TOTP_ISSUER, account: user.name, secret, algorithm: 'SHA1', digits: 6, periodSeconds: 30 }), secret: encoded };
  }

  /** Finishes enrolment with a first valid code of the new secret, which then replaces any old one; sessions made before must log in again. */
  async confirmMfaEnrollment(principal: Principal, code: string): Promise<void> {
    const user = await this.#userOf(principal);
    if (user.totpPending === null) throw new BulwarkError('CONFLICT', 'no MFA enrolment is in progress; run `bulwark mfa enroll` first');
    const secret = await this.deps.cipher.decrypt(user.totpPending, pendingTotpBinding(user.id));
    const result = verifyTotp(secret, code, this.deps.clock.now(), { algorithm: 'SHA1', lastUsedStep: user.totpLastStep });
    if (!result.ok || !(await claimTotpStep(this.deps.store.db, user.id, result.step))) {
      throw new BulwarkError('UNAUTHENTICATED', 'the code does not match; check the authenticator clock and try the next code');
    }
    const now = this.deps.clock.now();
    await updateUser(
      this.deps.store.db,
      user.id,
      { totpSecret: await this.deps.cipher.encrypt(secret, totpBinding(user.id)), totpAlgorithm: 'SHA1', totpPending: null, mfaEnrolledAt: now },
      now,
    );
    await revokeUserSessions(this.deps.store.db, user.id, now);
  }

  async #userOf(principal: Principal): Promise<UserRecord> {
    const user = principal.userId ? await getUser(this.deps.store.db, principal.userId) : undefined;
    if (!user) throw new BulwarkError('FORBIDDEN', 'only a logged-in user can do this; API tokens have no second factor to enrol');
    return user;
  }

  // ---- API tokens ---------------------------------------------------------------

  /** Mints an API token for a role the caller holds itself, so a token never grants more than its maker has. */
  async createApiToken(principal: Principal | undefined, input: { name: string; role: string; ttlMs?: number | undefined }): Promise<{ record: ApiTokenRecord; token: string }> {
    await this.deps.access.assertRolesExist([input.role]);
    if (principal && input.name === BOOTSTRAP_TOKEN_NAME) throw new BulwarkError('CONFLICT', `the token name "${BOOTSTRAP_TOKEN_NAME}" is reserved`);
    if (principal && !principal.roles.includes(input.role) && !principal.roles.includes('admin')) {
      throw new BulwarkError('FORBIDDEN', `you may only mint tokens for roles you hold (${principal.roles.join(', ')})`);
    }
    const minted = mintToken(API_TOKEN_PREFIX);
    const now = this.deps.clock.now();
    const record: ApiTokenRecord = {
      id: minted.id,
      secretHash: minted.secretHash,
      name: input.name,
      role: input.role,
      createdAt: now,
      expiresAt: input.ttlMs === undefined ? null : now + input.ttlMs,
      lastUsedAt: null,
      revokedAt: null,
      createdBy: principal?.userId ?? null,
    };
    await insertApiToken(this.deps.store.db, record);
    return { record, token: minted.token };
  }

  listApiTokens(): Promise<ApiTokenRecord[]> {
    return listApiTokens(this.deps.store.db);
  }

  /** The bootstrap token may go once an admin user who can log in with MFA exists, so nobody is locked out. */
  async revokeApiToken(id: string): Promise<void> {
    const record = await getApiToken(this.deps.store.db, id);
    if (!record || record.revokedAt !== null) throw new BulwarkError('NOT_FOUND', `no live API token ${id}; list them with \`bulwark token ls\``);
    if (record.name === BOOTSTRAP_TOKEN_NAME) {
      const admins = (await listUsers(this.deps.store.db)).filter((u) => u.roles.includes('admin') && u.lockedAt === null && u.mfaEnrolledAt !== null);
      if (admins.length === 0) {
        throw new BulwarkError('CONFLICT', 'the bootstrap admin token is the only way in until an admin user with MFA exists: add one (`bulwark user add NAME --role admin`, then `bulwark login` and `bulwark mfa enroll`) first');
      }
    }
    await revokeApiToken(this.deps.store.db, id, this.deps.clock.now());
  }

  // ---- authentication ---------------------------------------------------------------

  /** Resolves a bearer credential (API token or session) to a principal, or throws UNAUTHENTICATED. */
  async authenticate(bearer: string): Promise<Principal> {
    const now = this.deps.clock.now();
    const invalid = (): never => {
      throw new BulwarkError('UNAUTHENTICATED', 'the API token or session is invalid, expired or revoked; log in again (`bulwark login`)');
    };
    const asToken = parseToken(API_TOKEN_PREFIX, bearer);
    if (asToken) {
      const record = await getApiToken(this.deps.store.db, asToken.id);
      if (!record || !secretMatches(asToken.secret, record.secretHash) || record.revokedAt !== null || (record.expiresAt !== null && record.expiresAt <= now)) return invalid();
      // A token is worth no more than its maker still is: gone, locked or stripped of the role, it stops working.
      if (record.createdBy !== null) {
        const maker = await getUser(this.deps.store.db, record.createdBy);
        if (!maker || maker.lockedAt !== null || !(maker.roles.includes(record.role) || maker.roles.includes('admin'))) return invalid();
      }
      if (this.#shouldTouch(record.id, now)) await touchApiToken(this.deps.store.db, record.id, now);
      return { kind: 'api-token', id: record.id, actor: `token:${record.name}`, userId: null, roles: [record.role], mfa: true };
    }
    const asSession = parseToken(SESSION_PREFIX, bearer);
    if (asSession) {
      const session = await getSession(this.deps.store.db, asSession.id);
      if (!session || !secretMatches(asSession.secret, session.secretHash) || session.revokedAt !== null || session.expiresAt <= now) return invalid();
      const user = await getUser(this.deps.store.db, session.userId);
      if (!user || user.lockedAt !== null) return invalid();
      if (this.#shouldTouch(session.id, now)) await touchSession(this.deps.store.db, session.id, now);
      return { kind: 'session', id: session.id, actor: user.name, userId: user.id, roles: user.roles, mfa: session.mfa };
    }
    return invalid();
  }

  #shouldTouch(id: string, now: number): boolean {
    if (now - (this.#touched.get(id) ?? 0) < TOUCH_EVERY_MS) return false;
    this.#touched.set(id, now);
    if (this.#touched.size > 10_000) this.#touched.clear();
    return true;
  }
}

/**
 * Whoever assigns roles can give away only what they hold, never to themselves,
 * and only an admin grants admin: otherwise `users:update` is a way to anything.
 */
function assertMayGrant(caller: Principal, roles: readonly string[], targetUserId: string | undefined): void {
  if (caller.roles.includes('admin')) return;
  if (targetUserId !== undefined && caller.userId === targetUserId) throw new BulwarkError('FORBIDDEN', 'you may not change your own roles');
  const foreign = roles.filter((r) => !caller.roles.includes(r) || r === 'admin');
  if (foreign.length > 0) throw new BulwarkError('FORBIDDEN', `you may only grant roles you hold yourself, and only an admin grants admin (not: ${foreign.join(', ')})`);
}

/** Binds an encrypted TOTP seed to its user, so seeds cannot be swapped between rows. */
function totpBinding(userId: string): RecordBinding {
  return { table: 'users.totp_secret', id: userId, version: 1 };
}

/** A seed awaiting confirmation is encrypted apart, so it cannot be moved into force without its first code. */
function pendingTotpBinding(userId: string): RecordBinding {
  return { table: 'users.totp_pending', id: userId, version: 1 };
}
