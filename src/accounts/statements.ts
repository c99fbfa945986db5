/**
 * The `users` table's statements for other folders (src/accounts owns the table): typed guards and
 * writes other folders put in their own D1 batches, so no column name of `users` is written outside
 * this folder and none inside an SQL string.
 *
 * @example
 * import { userMatches, recordSignInStatement } from "../accounts/statements";
 * const guard = userMatches(db, userId, { enabled: true, passwordHash });
 * await db.batch([insertWhere(db, sessions, row, guard), recordSignInStatement(db, userId, now, guard)]);
 */
import { and, eq, exists, isNull, or, sql } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { users } from "./schema";
import { passwordHashIs } from "./password-column";

/** What a guard may require of the user row, besides its existence; each left out is not checked. */
export interface UserMatch {
  /** The account is not disabled (`disabled_at` is null). */
  enabled?: true;
  passwordHash?: string;
  isGuest?: boolean;
  /** Milliseconds: tells this request's update from a concurrent one's. */
  updatedAt?: number;
}

/**
 * `EXISTS (SELECT … FROM users WHERE id = userId AND …)` as a typed drizzle expression: a guard for a
 * statement in a batch, true while the user row exists and matches `match` when the batch runs.
 */
export function userMatches(db: DrizzleD1Database, userId: string, match: UserMatch = {}): SQL {
  return exists(
    db
      .select({ id: users.id })
      .from(users)
      .where(
        and(
          eq(users.id, userId),
          match.enabled ? isNull(users.disabledAt) : undefined,
          match.passwordHash === undefined ? undefined : passwordHashIs(users.passwordHash, match.passwordHash),
          match.isGuest === undefined ? undefined : eq(users.isGuest, match.isGuest),
          match.updatedAt === undefined ? undefined : eq(users.updatedAt, match.updatedAt),
        ),
      ),
  );
}

/**
 * Creates a guest's row (no email, no password), for the batch that starts its first session; that
 * session's start is its `last_sign_in_at` (ms).
 */
export function insertGuestStatement(db: DrizzleD1Database, userId: string, createdAt: number, lastSignInAt: number | null = null) {
  return db.insert(users).values({ id: userId, isGuest: true, createdAt, updatedAt: createdAt, lastSignInAt });
}

/** Records a successful sign-in (`last_sign_in_at`), only while `onlyIf` holds when it runs. */
export function recordSignInStatement(db: DrizzleD1Database, userId: string, at: number, onlyIf?: SQL) {
  return db.update(users).set({ lastSignInAt: at }).where(and(eq(users.id, userId), onlyIf));
}

/**
 * Sets whether the account has an active second factor (`users.mfa_enabled`, API.md §15), only while
 * `onlyIf` holds: src/mfa writes it in the batch that activates or removes the factor.
 */
export function setMfaEnabledStatement(db: DrizzleD1Database, userId: string, enabled: boolean, at: number, onlyIf?: SQL) {
  return db.update(users).set({ mfaEnabled: enabled, updatedAt: at }).where(and(eq(users.id, userId), onlyIf));
}

/** Reads one user row, for a batch (an empty result when there is none). */
export function selectUserStatement(db: DrizzleD1Database, userId: string) {
  return db.select().from(users).where(eq(users.id, userId));
}

/** The id of the user an identifier names (a normalised email or username), as a subquery. */
export function userIdByIdentifier(db: DrizzleD1Database, normalizedIdentifier: string) {
  return db
    .select({ id: users.id })
    .from(users)
    .where(or(eq(users.emailNormalized, normalizedIdentifier), eq(users.usernameNormalized, normalizedIdentifier)))
    .limit(1);
}

/**
 * Whether the account is disabled now: what a sign-in asks after its batch's guard did not hold (the
 * account disabled, or gone), to answer 403 `account_disabled` rather than its own refusal.
 */
export async function userIsDisabled(db: DrizzleD1Database, userId: string): Promise<boolean> {
  const row = await db.select({ disabledAt: users.disabledAt }).from(users).where(eq(users.id, userId)).get();
  return row?.disabledAt != null;
}

/** The user with this normalised email, if any (one row at most: the column is UNIQUE). */
export function userByEmail(db: DrizzleD1Database, emailNormalized: string) {
  return db.select().from(users).where(eq(users.emailNormalized, emailNormalized)).get();
}

/** The user `userId`, only while `emailNormalized` is still its address. */
export function userByIdAndEmail(db: DrizzleD1Database, userId: string, emailNormalized: string) {
  return db.select().from(users).where(and(eq(users.id, userId), eq(users.emailNormalized, emailNormalized))).get();
}

/**
 * Sets a new password hash after a reset, only while the address is still the user's and `onlyIf`
 * holds (the reset token is live). Following the mailed link proves the address, so it also marks
 * the email verified (keeping an earlier verification time). Returns the updated row, if any.
 */
export function resetPasswordStatement(
  db: DrizzleD1Database,
  input: { userId: string; emailNormalized: string; passwordHash: string; now: number; onlyIf: SQL },
) {
  return db
    .update(users)
    .set({ passwordHash: input.passwordHash, updatedAt: input.now, emailVerifiedAt: sql`COALESCE(${users.emailVerifiedAt}, ${input.now})` })
    .where(and(eq(users.id, input.userId), eq(users.emailNormalized, input.emailNormalized), input.onlyIf))
    .returning();
}

/**
 * The public `User` (API.md §3, the shape of `publicUser` in ./users.ts, field for field) of the
 * `users` row aliased `u`, as an SQLite JSON object: for an event written by INSERT … SELECT in the
 * batch of the change (src/events), so it shows the row as that change left it. Keep it in step
 * with `publicUser` (test/events/outbox.test.ts compares the two).
 */
export const publicUserJson = sql.raw(
  "json_object('id', u.id, 'email', u.email, 'username', u.username, " +
    "'isGuest', CASE WHEN u.is_guest THEN json('true') ELSE json('false') END, " +
    "'emailVerified', CASE WHEN u.email_verified_at IS NULL THEN json('false') ELSE json('true') END, " +
    "'profilePicture', u.profile_picture, " +
    "'createdAt', strftime('%Y-%m-%dT%H:%M:%fZ', u.created_at / 1000.0, 'unixepoch'), " +
    "'mfaEnabled', CASE WHEN u.mfa_enabled THEN json('true') ELSE json('false') END)",
);

/** The `users` table under the alias `u`, for `publicUserJson`. */
export const usersAsU = sql`${users} AS u`;
