/**
 * The common case of a sign-in by mailed code, with no D1 write before the session (issue 27,
 * slice 6: a code sign-in writes D1 twice, the code's send and the session's batch, instead of
 * three times). For a right, live code of an address whose owner is a full, verified, enabled
 * account, asked without a guest's token:
 *
 * 1. One D1 read batch: the account's failed-login count (`login:<user id>`, as a password's), the
 *    owner, and the code's row. Anything else (a wrong, void or expired code, no owner, an owner not
 *    verified, disabled or a guest) returns undefined, and the caller takes the check of
 *    src/email-codes/check.ts, which decides every such case as before (one more D1 trip, on
 *    failures and rarer paths only).
 * 2. The try is gated in the account's Durable Object, as a password's is
 *    (src/rate-limit/login-attempt.ts `reserveAccountAttempt`): 429 past the limit, the code
 *    untouched.
 * 3. `signIn` with the code as a single-use proof (`spend`, src/sessions/spent-proofs.ts): the
 *    user's object records it in the transaction that starts the session, and refuses it once
 *    recorded; its outbox deletes the code's row after the answer. On the D1 path (an object that
 *    cannot decide, a second factor to ask for) the object records it first and the batch spends
 *    the row under "still there". Of two right answers sent together, exactly one signs in; the other
 *    is a wrong try (401, `sign_in_failed`, counted), as before.
 *
 * The code's hash is compared in constant time here (the row was read, not matched in SQL).
 *
 * @example
 * const pair = await signInWithKnownCode(deps, { email, hash, now }); // undefined: use checkCode
 */
import { and, eq, exists, gt, lt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { users } from "../accounts/schema";
import { constantTimeEqual, sha256 } from "../crypto";
import type { Deps } from "../http/deps";
import { AuthError, MfaRequiredError } from "../http/errors";
import { loginAttemptRead } from "../rate-limit";
import { reserveAccountAttempt } from "../rate-limit/login-attempt";
import { signIn } from "../sessions";
import type { IssuedPair } from "../types";
import { MAX_CODE_ATTEMPTS } from "./check";
import { emailCodes } from "./schema";

/** The name a code is recorded under as a spent proof in its owner's object: its hash (an HMAC, never the code). */
export const codeProofKey = (hash: string) => `email-code:${hash}`;

/** The code as presented: the normalised address, the code's `codeHash`, the request's time (ms). */
export interface KnownCodeInput {
  email: string;
  hash: string;
  now: number;
}

/**
 * Signs in with a right code of a verified owner (see the module comment); undefined when this is
 * not that case (nothing written, nothing counted). Errors (AuthError): 429 `rate_limited`, 503
 * `unavailable` (the account's gate), 401 `invalid_credentials` (the code was spent meanwhile),
 * 403 `account_disabled` (disabled meanwhile), 403 `mfa_required`. D1 errors propagate.
 */
export async function signInWithKnownCode(deps: Deps, input: KnownCodeInput): Promise<IssuedPair | undefined> {
  const { email, hash, now } = input;
  const db = drizzle(deps.env.DB);
  const [counted, [owner], [code]] = await db.batch([
    loginAttemptRead(db, email, await sha256(email)),
    db.select().from(users).where(eq(users.emailNormalized, email)).limit(1),
    db.select().from(emailCodes).where(eq(emailCodes.emailNormalized, email)),
  ]);
  if (!owner || owner.isGuest || owner.emailVerifiedAt === null || owner.disabledAt !== null || !code) return undefined;
  if (code.expiresAt <= now || code.attempts >= MAX_CODE_ATTEMPTS || !constantTimeEqual(code.codeHash, hash)) return undefined;

  const attempt = await reserveAccountAttempt(deps, { userId: owner.id, seen: counted[0] ?? null, found: owner }, async () => undefined);
  try {
    const thisCode = and(eq(emailCodes.emailNormalized, email), eq(emailCodes.codeHash, hash));
    const live = and(thisCode, gt(emailCodes.expiresAt, now), lt(emailCodes.attempts, MAX_CODE_ATTEMPTS));
    const pair = await signIn(deps, {
      userId: owner.id,
      method: "code",
      attempt: attempt.handle,
      spend: {
        key: codeProofKey(hash),
        expiresAt: code.expiresAt,
        address: email,
        // The code is still there, and the account still uses the address it was mailed to.
        onlyIf: and(
          exists(db.select({ one: emailCodes.emailNormalized }).from(emailCodes).where(live)),
          exists(db.select({ id: users.id }).from(users).where(and(eq(users.id, owner.id), eq(users.emailNormalized, email)))),
        ),
        alsoRun: [db.delete(emailCodes).where(thisCode)],
      },
    }).catch(async (error: unknown) => {
      // The code is spent and the second factor still to come: the try stays counted until it succeeds.
      if (error instanceof MfaRequiredError) await attempt.fail();
      throw error;
    });
    if (pair) {
      await attempt.succeeded();
      return pair;
    }
    // Disabled since the read (403, as when the check finds it so), or the code spent by a concurrent
    // right answer (a wrong try: 401 with its event, as src/email-codes/index.ts `wrongCode` answers).
    return await attempt.signInRefused({ method: "code", error: () => new AuthError("invalid_credentials", "The code is wrong or has expired") });
  } finally {
    await attempt.release(); // nothing, when the attempt was ended above
  }
}
