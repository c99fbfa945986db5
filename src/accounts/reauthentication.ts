/**
 * Re-authentication before a sensitive change (API.md §9: deleting the account, changing its
 * email, removing a way to sign in) and the rule that an account keeps at least one way to sign in.
 *
 * - An account with a password must send it: a wrong one is a failed login (401, counted against
 *   the account like a login; 429 past ACCOUNT_LOGIN_FAILURES).
 * - An account without one needs an access token issued at most 10 minutes ago (`iat`), of a
 *   session that started at most 10 minutes ago (a refresh is no sign-in); otherwise 403
 *   `reauthentication_required`.
 * - Guests need neither.
 * - An account with an active second factor (API.md §15 step-up) needs aal2 proven within 10
 *   minutes: an access token with `aal: "aal2"` and `auth_time` at most 10 minutes old, or the
 *   password (when it has one) and a current `code` or `recoveryCode` in the body. Anything less is
 *   403 `reauthentication_required`, so a stolen aal1 session cannot remove or replace the factor.
 *
 * @example
 * await requireReauthentication(deps, auth, body.password);
 * await requireAnotherWayToSignIn(deps, auth.user, { passkeyId });
 */
import { and, count, eq, ne } from "drizzle-orm";
import { uuidIsNot } from "../db/uuid-bytes";
import { drizzle } from "drizzle-orm/d1";
import { activityStatement } from "../activity";
import { drainSoon } from "../activity/drain-soon";
import type { Deps } from "../http/deps";
import { AuthError, invalidRequest } from "../http/errors";
import { identities } from "../identities/schema";
import { passkeys } from "../passkeys/schema";
import { sessions } from "../sessions/schema";
import { clearLoginAttemptsStatement, loginAttemptDecision, loginAttemptStatement, tooManyRequests } from "../rate-limit";
import type { Auth } from "../sessions";
import { sha256 } from "../crypto";
import type { UserRow } from "./schema";
import { hashOptions, verifyPassword } from "./passwords";
import { proveSecondFactor } from "../mfa/verify";

/** How old (seconds since `iat`) an access token may be to stand for a recent sign-in. */
export const RECENT_SIGN_IN_SECONDS = 600;

/** What a request may send to prove again who it is: the password, and a second factor's code. */
export interface ReauthProof {
  password?: string | undefined;
  code?: string | undefined;
  recoveryCode?: string | undefined;
}

/**
 * Throws unless the caller proved again who it is, as described above. `proof` is the request body
 * (a bare password string is accepted too).
 */
export async function requireReauthentication(deps: Deps, auth: Auth, proof: ReauthProof | string | undefined): Promise<void> {
  const user = auth.user;
  if (user.isGuest) return;
  const { password, code, recoveryCode } = typeof proof === "string" ? { password: proof } : (proof ?? {});
  if (user.mfaEnabled) return requireStepUp(deps, auth, { password, code, recoveryCode });
  if (user.passwordHash) {
    if (password === undefined || password === "") throw invalidRequest("password", "is required");
    await checkPassword(deps, user, password);
    return;
  }
  const oldest = Date.now() - RECENT_SIGN_IN_SECONDS * 1000;
  if (auth.issuedAt * 1000 < oldest) throw reauthenticationRequired();
  // A refresh issues a fresh `iat` without a sign-in: the session itself must have started recently,
  // or whoever holds the refresh token (an unattended device) would pass by refreshing first.
  const session = await drizzle(deps.env.DB).select({ createdAt: sessions.createdAt }).from(sessions).where(and(eq(sessions.userId, auth.userId), eq(sessions.id, auth.sessionId))).get();
  if (!session || session.createdAt < oldest) throw reauthenticationRequired();
}

/**
 * The step-up rule of API.md §15 for an account with an active factor (see the module comment). A
 * wrong password or code is 401 and counted against the account.
 */
export async function requireStepUp(deps: Deps, auth: Auth, proof: ReauthProof): Promise<void> {
  if (recentAal2(auth)) return;
  const user = auth.user;
  const codeGiven = Boolean(proof.code || proof.recoveryCode);
  if (!codeGiven || (user.passwordHash && !proof.password)) {
    throw new AuthError("reauthentication_required", "Confirm it is you: send the password and a code from the authenticator app (or a recovery code), or step up first");
  }
  if (user.passwordHash) await checkPassword(deps, user, proof.password!);
  await proveSecondFactor(deps, user, { code: proof.code, recoveryCode: proof.recoveryCode }, auth.sessionId);
}

/**
 * The second half of the step-up rule, for a change that checks the password itself (change
 * password): aal2 within 10 minutes, or a code now.
 */
export async function requireSecondFactor(deps: Deps, auth: Auth, proof: ReauthProof): Promise<void> {
  if (recentAal2(auth)) return;
  if (!proof.code && !proof.recoveryCode) {
    throw new AuthError("reauthentication_required", "Confirm it is you: send a code from the authenticator app (or a recovery code), or step up first");
  }
  await proveSecondFactor(deps, auth.user, { code: proof.code, recoveryCode: proof.recoveryCode }, auth.sessionId);
}

/**
 * Adding a way to sign in that is aal2 on its own (a passkey, API.md §15) to an account with an
 * active factor needs an aal2 token with `auth_time` at most 10 minutes old; otherwise 403
 * `reauthentication_required` (the app steps up first: POST /v1/auth/mfa/step-up). Without this, a
 * stolen aal1 session could add its own passkey, sign in at aal2 with it, and remove the factor.
 * Accounts without a factor, and guests, pass.
 */
export function requireAal2ToAddFactor(auth: Auth): void {
  if (auth.user.mfaEnabled && !recentAal2(auth)) {
    throw new AuthError("reauthentication_required", "This account has a second factor: step up first (POST /v1/auth/mfa/step-up), then add the passkey");
  }
}

/** Whether the access token is aal2 with `auth_time` at most 10 minutes old. */
export const recentAal2 = (auth: Auth) => auth.aal === "aal2" && auth.authTime * 1000 >= Date.now() - RECENT_SIGN_IN_SECONDS * 1000;

const reauthenticationRequired = () => new AuthError("reauthentication_required", "Sign in again to confirm it is you, then retry");

/**
 * Checks the account's own password as a login attempt would (API.md §6): counted against the
 * account before the hash is compared (429 past ACCOUNT_LOGIN_FAILURES, shared with login), a wrong
 * one is 401 `invalid_credentials` (`message`) with `sign_in_failed`, a right one clears the count.
 * Used by re-authentication and by change-password's current password.
 */
export async function checkPassword(deps: Deps, user: UserRow, password: string, message = "The password is incorrect"): Promise<void> {
  const db = drizzle(deps.env.DB);
  const rate = deps.config.accountLoginFailures;
  const now = Date.now();
  const identifier = user.emailNormalized ?? user.usernameNormalized ?? user.id;
  const [attempt] = await loginAttemptStatement(db, identifier, await sha256(identifier), rate, now);
  const decision = loginAttemptDecision(attempt, rate, now);
  if (!decision.allowed) throw tooManyRequests(decision.retryAfter, "Too many failed attempts for this account; try again later");
  const { valid } = await verifyPassword(password, user.passwordHash, hashOptions(deps));
  if (!valid) {
    await activityStatement(db, { userId: user.id, type: "sign_in_failed", method: "password", client: deps.client });
    drainSoon(deps, user.id);
    throw new AuthError("invalid_credentials", message);
  }
  await clearLoginAttemptsStatement(db, user.id);
}

/** The ways an account can sign in (API.md §12 "the last way to sign in"). */
export interface SignInWays {
  password: boolean;
  verifiedEmail: boolean;
  passkeys: number;
  identities: number;
}

/** Counts `user`'s ways to sign in, leaving out the passkey or identity about to be removed. */
export async function signInWays(deps: Deps, user: UserRow, without: { passkeyId?: string; identityId?: string } = {}): Promise<SignInWays> {
  const db = drizzle(deps.env.DB);
  const [keys, links] = await db.batch([
    db.select({ n: count() }).from(passkeys).where(and(eq(passkeys.userId, user.id), without.passkeyId ? uuidIsNot(passkeys.id, without.passkeyId) : undefined)),
    db.select({ n: count() }).from(identities).where(and(eq(identities.userId, user.id), without.identityId ? ne(identities.id, without.identityId) : undefined)),
  ]);
  return {
    password: user.passwordHash !== null,
    verifiedEmail: user.emailVerifiedAt !== null && user.email !== null,
    passkeys: keys[0]?.n ?? 0,
    identities: links[0]?.n ?? 0,
  };
}

/**
 * Throws 409 `conflict` when removing the given passkey or identity would leave a full account with
 * no way to sign in. Guests are exempt: their refresh token is their way back, as before they
 * added one.
 */
export async function requireAnotherWayToSignIn(deps: Deps, user: UserRow, without: { passkeyId?: string; identityId?: string }): Promise<void> {
  if (user.isGuest) return;
  const ways = await signInWays(deps, user, without);
  if (!ways.password && !ways.verifiedEmail && ways.passkeys === 0 && ways.identities === 0) {
    throw new AuthError("conflict", "This is the last way to sign in to the account; add another first");
  }
}
