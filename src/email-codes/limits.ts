/**
 * The per-address limits email codes share with the rest of the service (API.md §6, §11), kept in
 * one place so a change to how logins are counted touches only this file:
 * - sending: the recovery mails' per-email count (3 an hour by default), on top of the `code` bucket,
 *   in the batch that stores the code;
 * - verifying: the account's failed-login count, through the exported functions of src/rate-limit.
 *   A try is counted before the code is checked (so parallel guesses cannot all slip through), in
 *   the same D1 batch as the check itself (src/email-codes/check.ts), and the session's batch clears
 *   the count on success, exactly as for a password.
 *
 * @example
 * const mail = await codeMailCount(deps, db, "ada@example.com", Date.now());
 * const [counted] = await db.batch([mail.statement, storeCodeIf(mail.allowed)]);
 * mail.refuse(counted[0]); // 429 past the per-email limit
 * const attempt = await codeAttempt(deps, db, email, Date.now());
 * const [counted, ...rest] = await db.batch([attempt.statement, spendIf(attempt.allowed)]);
 * attempt.refuse(counted[0]); // 429 past the account limit
 */
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { SQL } from "drizzle-orm";
import { sha256 } from "../crypto";
import type { Deps } from "../http/deps";
import { loginAttemptAllowed, loginAttemptDecision, loginAttemptStatement, recoveryMailCount, tooManyRequests } from "../rate-limit";

/**
 * Counts one code mail for the normalised address, in parts for the batch that stores the code (one
 * D1 write transaction for both): `statement` counts (the recovery mails' per-email count), `allowed`
 * guards the code's write in the same batch, and `refuse(row)` throws 429 past the limit (nothing
 * stored then).
 */
export function codeMailCount(deps: Deps, db: DrizzleD1Database, normalizedEmail: string, now: number) {
  return recoveryMailCount(db, normalizedEmail, deps.config.recoveryPerEmail, now);
}

/** One verification try's count against the account, in parts for the check's batch. */
export interface CodeAttempt {
  /**
   * The upsert that counts the try against the account using the address (or, when none does, the
   * address's hash): `ACCOUNT_LOGIN_FAILURES`' counter, key `login:<user id or hash>`. Returns the
   * counter row `{ count, windowStart }` (ms).
   */
  statement: ReturnType<typeof loginAttemptStatement>;
  /** SQL true when the try `statement` counted is allowed; for the statements after it in the batch. */
  allowed: SQL;
  /** Throws 429 `rate_limited` (with Retry-After, s) when the counted row is past the limit. */
  refuse(row: { count: number; windowStart: number } | undefined): void;
}

/**
 * Counts one verification try (see `CodeAttempt`); `now` in ms. The same counter, key and 429 rule
 * as a password attempt, so codes and passwords share the account's ten failures in 15 minutes.
 */
export async function codeAttempt(deps: Deps, db: DrizzleD1Database, normalizedEmail: string, now: number): Promise<CodeAttempt> {
  const rate = deps.config.accountLoginFailures;
  const hash = await sha256(normalizedEmail);
  return {
    statement: loginAttemptStatement(db, normalizedEmail, hash, rate, now),
    allowed: loginAttemptAllowed(db, normalizedEmail, hash, rate),
    refuse(row) {
      const decision = loginAttemptDecision(row, rate, now);
      if (!decision.allowed) throw tooManyRequests(decision.retryAfter, "Too many failed attempts for this account; try again later");
    },
  };
}
