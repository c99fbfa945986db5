/**
 * The check of a mailed code as ONE D1 batch, one round trip to the primary (issue 27: a sign-in
 * makes at most one serial D1 trip before its session starts). In one transaction, in this order:
 *
 * 1. the try is counted against the account (src/email-codes/limits.ts: `login:<id or hash>`, the
 *    password's counter); every statement below runs only while that count is within the limit, so a
 *    request answered 429 neither spends the code nor takes one of its tries;
 * 2. the account using the address is read (the owner, or none);
 * 3. the code is SPENT when its hash matches: `DELETE … WHERE email = ? AND code_hash = ? AND
 *    expires_at > now AND attempts < 5 RETURNING`. Of concurrent right answers exactly one deletes
 *    the row; the others find nothing. The spend is held back (the code stays usable, no try taken)
 *    for a guest whose address has an owner (409 `conflict`: "nothing changes"), and, with sign-up
 *    off, for an address with no owner (that answer is a wrong code's, below);
 * 4. otherwise one try is taken: `UPDATE … SET attempts = attempts + 1 WHERE … AND attempts < 5 AND
 *    code_hash <> ?` (or, with sign-up off and no owner, whatever the hash: answered like a wrong
 *    code, so the answer tells nothing). Guesses in flight together get five tries between them, and
 *    a code with five taken can no longer be spent;
 * 5. whether the right code is still there, unspent (a guest's 409 case); a primary-key read.
 *
 * Comparing the stored hash in SQL (not in constant time) leaks nothing useful: it is an HMAC-SHA-256
 * under a key derived from server secrets (src/email-codes/index.ts `codeHash`), so even a timing
 * oracle on the comparison reveals bytes of a MAC the caller cannot compute for any candidate code.
 *
 * @example
 * const check = await checkCode(deps, db, { email, hash, guest: false, signUp: true, now: Date.now() });
 * if (check.spent) await signIn(deps, { userId: check.owner!.id, method: "code" }); // owner known
 */
import { and, eq, exists, gt, lt, ne, not, or, sql } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { users } from "../accounts/schema";
import type { UserRow } from "../accounts/schema";
import type { Deps } from "../http/deps";
import { codeAttempt } from "./limits";
import { emailCodes } from "./schema";

/** Wrong tries after which a code is void (API.md §11). */
export const MAX_CODE_ATTEMPTS = 5;

/** What the check needs to know before its batch: the address, the presented code's hash, and who asks. */
export interface CodeCheckInput {
  /** The normalised address (src/accounts/users.ts `normalizeEmail`). */
  email: string;
  /** The presented code's `codeHash` (base64url HMAC-SHA-256). */
  hash: string;
  /** The caller is a guest (a guest's Bearer token came with the request). */
  guest: boolean;
  /** `EMAIL_CODE_SIGN_UP`: a code for an address with no account may create one. */
  signUp: boolean;
  /** The request's time, ms since the epoch. */
  now: number;
}

/** What the check's batch found and did (see the module comment). */
export interface CodeCheck {
  /** The account using the address when the batch ran, if any. */
  owner: UserRow | undefined;
  /** This request spent the code: it alone goes on to sign in, sign up or upgrade the guest. */
  spent: boolean;
  /** The try this request took (a wrong code): the stored hash and the tries taken so far (1–5). */
  tried: { codeHash: string; attempts: number } | undefined;
  /** A guest's right code that was held back (still live, not spent): the 409 case. */
  kept: boolean;
}

/**
 * Runs the check (see the module comment): one D1 batch. Throws 429 `rate_limited` (Retry-After in
 * seconds) past the account's failed-login limit, after which nothing of the code changed; D1
 * errors propagate (nothing was written).
 */
export async function checkCode(deps: Deps, db: DrizzleD1Database, input: CodeCheckInput): Promise<CodeCheck> {
  const { email, hash, now } = input;
  const attempt = await codeAttempt(deps, db, email, now);
  const live = and(eq(emailCodes.emailNormalized, email), gt(emailCodes.expiresAt, now), lt(emailCodes.attempts, MAX_CODE_ATTEMPTS), attempt.allowed);
  const owned = exists(db.select({ id: users.id }).from(users).where(eq(users.emailNormalized, email)));
  // Conditions on the spend, decided in the transaction with the owner read (the Worker knows only
  // whether the caller is a guest and whether sign-up is on).
  const mayStart = and(input.guest ? not(owned) : undefined, input.signUp ? undefined : owned);
  const wrongTry = or(ne(emailCodes.codeHash, hash), input.signUp ? undefined : not(owned));
  const stillThere = db
    .select({ one: sql<number>`1` })
    .from(emailCodes)
    .where(and(eq(emailCodes.emailNormalized, email), eq(emailCodes.codeHash, hash), gt(emailCodes.expiresAt, now), lt(emailCodes.attempts, MAX_CODE_ATTEMPTS)));
  const [counted, found, spent, tried, kept] = await db.batch([
    attempt.statement,
    db.select().from(users).where(eq(users.emailNormalized, email)).limit(1),
    db.delete(emailCodes).where(and(live, eq(emailCodes.codeHash, hash), mayStart)).returning({ email: emailCodes.emailNormalized }),
    db
      .update(emailCodes)
      .set({ attempts: sql`${emailCodes.attempts} + 1` })
      .where(and(live, wrongTry))
      .returning({ codeHash: emailCodes.codeHash, attempts: emailCodes.attempts }),
    stillThere,
  ]);
  attempt.refuse(counted[0]);
  return { owner: found[0], spent: spent.length === 1, tried: tried[0], kept: kept.length > 0 };
}
