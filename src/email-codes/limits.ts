/**
 * The per-address limits email codes share with the rest of the service (API.md §6, §11), kept in
 * one place so a change to how logins are counted touches only this file:
 * - sending: the recovery mails' per-email count (3 an hour by default), on top of the `code` bucket;
 * - verifying: the account's failed-login count, through the exported functions of src/rate-limit.
 *   A try is counted before the code is checked (so parallel guesses cannot all slip through) and the
 *   session's batch clears the count on success, exactly as for a password.
 *
 * @example
 * await countCodeMail(deps, "ada@example.com");                 // 429 past the per-email limit
 * const owner = await countCodeAttempt(deps, db, email, Date.now()); // 429 past the account limit
 */
import { eq } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { users } from "../accounts/schema";
import type { UserRow } from "../accounts/schema";
import { sha256 } from "../crypto";
import type { Deps } from "../http/deps";
import { limitRecoveryMail, loginAttemptDecision, loginAttemptStatement, tooManyRequests } from "../rate-limit";

/** Counts one code mail for the normalised address; throws 429 past the per-email limit. */
export function countCodeMail(deps: Deps, normalizedEmail: string): Promise<void> {
  return limitRecoveryMail(deps, normalizedEmail);
}

/**
 * Counts one verification try against the account that uses the address (or, when none does, the
 * address's hash) and returns that account's row. Throws 429 past ACCOUNT_LOGIN_FAILURES.
 */
export async function countCodeAttempt(deps: Deps, db: DrizzleD1Database, normalizedEmail: string, now: number): Promise<UserRow | undefined> {
  const rate = deps.config.accountLoginFailures;
  const [attempt, found] = await db.batch([
    loginAttemptStatement(db, normalizedEmail, await sha256(normalizedEmail), rate, now),
    db.select().from(users).where(eq(users.emailNormalized, normalizedEmail)).limit(1),
  ]);
  const decision = loginAttemptDecision(attempt[0], rate, now);
  if (!decision.allowed) throw tooManyRequests(decision.retryAfter, "Too many failed attempts for this account; try again later");
  return found[0];
}
