/**
 * Answering a second factor (API.md §15): `verifyMfa` completes a pending sign-in named by an
 * `mfaToken` (POST /v1/auth/mfa/verify), and `proveSecondFactor` checks a code sent with a
 * sensitive change or a step-up (POST /v1/auth/mfa/step-up).
 *
 * `verifyMfa` costs two D1 round trips: one batch takes one of the token's five tries (a
 * compare-and-set on `attempts`), counts the try against the account (§6, before the code is
 * compared) and reads the factor; then the sign-in's own batch (src/sessions/issue.ts) starts the
 * session only while the token, and the TOTP step or recovery code, are still unspent, and spends
 * them, so of any number of concurrent calls with one valid code exactly one gets a pair.
 *
 * @example
 * const pair = await verifyMfa(deps, { mfaToken, code: "492039" }); // aal2, amr [first, "totp"]
 * await proveSecondFactor(deps, auth.user, { code }, auth.sessionId); // or throws 401 / 429
 */
import { and, eq, gt, lt, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { SignInMethod } from "../activity";
import { drainSoon } from "../activity/drain-soon";
import { users } from "../accounts/schema";
import type { UserRow } from "../accounts/schema";
import type { BatchItem } from "drizzle-orm/batch";
import { sha256 } from "../crypto";
import type { Deps } from "../http/deps";
import { AuthError } from "../http/errors";
import { sendMail } from "../mail";
import { accountAttemptStatement, clearLoginAttemptsStatement, loginAttemptDecision, tooManyRequests } from "../rate-limit";
import { signIn } from "../sessions/issue";
import type { IssuedPair } from "../types";
import { checkCode, factorReads, failedStatement, requireOneCode } from "./check";
import type { CheckedCode, CodeInput } from "./check";
import { recoveryCodeUsedMail } from "./mail";
import { MAX_CHALLENGE_ATTEMPTS } from "./statements";
import { mfaChallenges } from "./schema";

const wrong = () => new AuthError("invalid_credentials", "The code is wrong or was already used (try the next one), or this sign-in has expired (sign in again)");

export interface VerifyInput extends CodeInput {
  mfaToken: string;
}

/** POST /v1/auth/mfa/verify: a TokenPair (aal2) for the pending sign-in, or 401 / 403 / 429. */
export async function verifyMfa(deps: Deps, input: VerifyInput): Promise<IssuedPair> {
  requireOneCode(input);
  const db = drizzle(deps.env.DB);
  const now = Date.now();
  const tokenHash = await sha256(input.mfaToken);
  const live = and(eq(mfaChallenges.tokenHash, tokenHash), gt(mfaChallenges.expiresAt, now), lt(mfaChallenges.attempts, MAX_CHALLENGE_ATTEMPTS));
  const userIdOf = sql`SELECT ${mfaChallenges.userId} FROM ${mfaChallenges} WHERE ${live}`;
  const reads = await factorReads(deps, db, sql`SELECT ${mfaChallenges.userId} FROM ${mfaChallenges} WHERE ${mfaChallenges.tokenHash} = ${tokenHash}`, input);
  const rate = deps.config.accountLoginFailures;
  const [counted, tried, factors, codes, unused, owners] = await db.batch([
    accountAttemptStatement(db, userIdOf, rate, now),
    db
      .update(mfaChallenges)
      .set({ attempts: sql`${mfaChallenges.attempts} + 1` })
      .where(live)
      .returning({ userId: mfaChallenges.userId, method: mfaChallenges.method, options: mfaChallenges.options, attempts: mfaChallenges.attempts }),
    reads.factor,
    reads.recoveryCode,
    reads.unused,
    db.select().from(users).where(sql`${users.id} = (SELECT ${mfaChallenges.userId} FROM ${mfaChallenges} WHERE ${mfaChallenges.tokenHash} = ${tokenHash})`),
  ]);
  const challenge = tried[0];
  const user = owners[0];
  if (!challenge || !user) throw wrong();
  const decision = loginAttemptDecision(counted[0], rate, now);
  if (!decision.allowed) throw tooManyRequests(decision.retryAfter, "Too many failed attempts for this account; try again later");
  if (user.disabledAt !== null) throw new AuthError("account_disabled", "This account is disabled");

  const proof = await checkCode(deps, db, user.id, factors[0], codes[0], input, now);
  if (!proof) {
    const voided = challenge.attempts >= MAX_CHALLENGE_ATTEMPTS;
    await db.batch([failedStatement(deps, db, user.id, input), db.delete(mfaChallenges).where(and(eq(mfaChallenges.tokenHash, tokenHash), sql`${voided ? 1 : 0} = 1`))]);
    drainSoon(deps, user.id);
    throw wrong();
  }

  const unspent = sql`EXISTS (SELECT 1 FROM ${mfaChallenges} WHERE ${mfaChallenges.tokenHash} = ${tokenHash})`;
  const pending = challenge.options ? (JSON.parse(challenge.options) as { mergeGuest?: string }) : {};
  const pair = await signIn(deps, {
    userId: user.id,
    method: challenge.method as SignInMethod,
    role: "user",
    // A guest signing into this account (API.md §16) is merged now that the sign-in completes.
    ...(typeof pending.mergeGuest === "string" ? { mergeGuest: pending.mergeGuest } : {}),
    secondFactor: { method: proof.method, onlyIf: and(proof.onlyIf, unspent)!, alsoRun: [...proof.alsoRun, db.delete(mfaChallenges).where(eq(mfaChallenges.tokenHash, tokenHash))] },
  });
  if (!pair) throw wrong();
  if (proof.recoveryCodeUsed) notice(deps, user, (unused[0]?.n ?? 1) - 1);
  return pair;
}

/** Mails the verified address that a recovery code was used (API.md §15). */
function notice(deps: Deps, user: UserRow, remaining: number): void {
  if (!user.email || user.emailVerifiedAt === null) return;
  sendMail(deps, recoveryCodeUsedMail({ to: user.email, platformName: deps.config.platformName, remaining: Math.max(0, remaining) }));
}

/**
 * Checks and spends a code of `user`'s active factor (or one of its recovery codes) outside a
 * sign-in: step-up, and the sensitive changes that take a code in their body. Counted against the
 * account first (429 past the §6 limit); a wrong or replayed code is 401 `invalid_credentials` and
 * `mfa_failed`; a right one clears the account's failed count. Returns the factor used.
 */
export async function proveSecondFactor(deps: Deps, user: UserRow, input: CodeInput, sessionId: string | null): Promise<CheckedCode["method"]> {
  requireOneCode(input);
  const db = drizzle(deps.env.DB);
  const now = Date.now();
  const rate = deps.config.accountLoginFailures;
  const reads = await factorReads(deps, db, sql`${user.id}`, input);
  const [counted, factors, codes, unused] = await db.batch([accountAttemptStatement(db, sql`${user.id}`, rate, now), reads.factor, reads.recoveryCode, reads.unused]);
  const decision = loginAttemptDecision(counted[0], rate, now);
  if (!decision.allowed) throw tooManyRequests(decision.retryAfter, "Too many failed attempts for this account; try again later");
  const proof = await checkCode(deps, db, user.id, factors[0], codes[0], input, now, sessionId);
  if (!proof) return failed(deps, db, user.id, input, sessionId);
  // The spend is the proof's last statement (a recovery code's event, guarded by the code being unused, runs before it).
  const results = await db.batch([clearLoginAttemptsStatement(db, user.id), ...proof.alsoRun] as unknown as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  if ((results[proof.alsoRun.length] as D1Result).meta.changes !== 1) return failed(deps, db, user.id, input, sessionId);
  if (proof.recoveryCodeUsed) {
    drainSoon(deps, user.id); // its `recovery_code_used`, staged outside `changeUser`
    notice(deps, user, (unused[0]?.n ?? 1) - 1);
  }
  return proof.method;
}

async function failed(deps: Deps, db: DrizzleD1Database, userId: string, input: CodeInput, sessionId: string | null): Promise<never> {
  await failedStatement(deps, db, userId, input, sessionId);
  drainSoon(deps, userId);
  throw new AuthError("invalid_credentials", "The code is wrong or was already used");
}
