/**
 * The statements of an account's deletion batch (API.md §9), in a module of their own so the
 * sign-in batch (src/sessions/issue.ts, a guest merged into an account) can put them in its batch
 * without importing the rest of the deletion flow.
 *
 * @example
 * const results = await db.batch(deletionStatements(db, userId, guard)); // the last: the deleted user row
 */
import { and, eq, sql } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { endChallengesStatement, removeFactorsStatements } from "../mfa/statements";
import { activity, counters, emailCodes, identities, oneTimeTokens, passkeys, sessions, users, webauthnChallenges } from "../db/schema";

/**
 * The statements of the one batch, exported for the round-trip test. `onlyIf`, when given, is put in
 * the WHERE of every statement: the user row goes last, so the condition reads the same state in
 * each, and when it is false the whole batch deletes nothing (a compare-and-set over the batch).
 */
export function deletionStatements(db: DrizzleD1Database, userId: string, onlyIf?: SQL) {
  const emailOfUser = sql`(SELECT ${users.emailNormalized} FROM ${users} WHERE ${users.id} = ${userId})`;
  return [
    db.delete(activity).where(and(eq(activity.userId, userId), onlyIf)),
    db.delete(oneTimeTokens).where(and(eq(oneTimeTokens.userId, userId), onlyIf)),
    db.delete(emailCodes).where(and(sql`${emailCodes.emailNormalized} = ${emailOfUser}`, onlyIf)),
    db.delete(passkeys).where(and(eq(passkeys.userId, userId), onlyIf)),
    db.delete(webauthnChallenges).where(and(eq(webauthnChallenges.userId, userId), onlyIf)),
    db.delete(identities).where(and(eq(identities.userId, userId), onlyIf)),
    db.delete(sessions).where(and(eq(sessions.userId, userId), onlyIf)),
    db.delete(counters).where(and(eq(counters.key, `login:${userId}`), onlyIf)),
    // The second factor (API.md §15): its factors, recovery codes and pending mfaTokens.
    endChallengesStatement(db, userId, onlyIf),
    ...removeFactorsStatements(db, userId, onlyIf),
    db.delete(users).where(and(eq(users.id, userId), onlyIf)).returning(),
  ] as const;
}

