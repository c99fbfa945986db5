/**
 * Sign-in with a passkey (API.md §12): discoverable credentials, so the options carry no
 * allow-list and the authenticator names the credential and its user handle. The challenge is spent
 * before anything is checked; then the credential, the user handle, the origin, the RP ID hash, the
 * user-verified flag and the signature (by @simplewebauthn/server), and the signature counter (here:
 * one that does not increase, when either side is non-zero, is refused, logged and recorded as a
 * failed sign-in). Every refusal is 401 `invalid_credentials`, counted against the account like a
 * wrong password; past the account's limit (API.md §6) the answer is 429 before the signature is
 * checked.
 *
 * Round trips to D1 (issue 27: at most one serial trip to the primary before the session starts).
 * The Worker makes one batch: the attempt count (`accountAttemptStatement`, key `login:<user id>`,
 * the key a password attempt on the same account uses and a success clears), the challenge's spend,
 * the passkey read and the user read. The count is written only for a known credential and a
 * challenge still live when the batch runs (it is the batch's first statement, before the spend
 * deletes the challenge), so an unknown credential or a spent, unknown or expired challenge counts
 * nothing, exactly as when the count was a statement of its own made after those checks. Then
 * `signIn` (src/sessions/issue.ts) starts the session: 2 Worker trips in all (it was 3).
 *
 * The signature counter (WebAuthn §6.1.1): a counter that does not increase may mean a cloned
 * authenticator, so a non-zero one is checked and stored by compare-and-set: `signIn` gets
 * `onlyIf` "the stored counter is still the one checked" and stores the new counter in the same
 * batch, so of two assertions signed with one counter value only one starts a session. A counter
 * that is 0 on both sides (stored and asserted) means the authenticator does not implement one
 * (§6.1.1; synced passkeys always report 0): there is nothing to compare or set, so `signIn` gets no
 * `onlyIf`, and may start the session without a D1 trip on the request's path, while its `alsoRun`
 * records the last use (never moved backwards) and the backed-up flag. Replay is still impossible:
 * each assertion signs its own challenge, which the first batch spent. A removal of the passkey that
 * lands between that batch and the session is ordered after the sign-in, as if it had come a moment
 * later (removing a passkey does not end the sessions it started).
 *
 * @example
 * const { challengeId, options } = await loginOptions(deps);
 * const pair = await loginWithPasskey(deps, { challengeId, response }); // 401, 403 or 429 AuthError
 */
import { generateAuthenticationOptions, verifyAuthenticationResponse } from "@simplewebauthn/server";
import type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { and, eq, exists, inArray, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { activityStatement } from "../activity";
import { users } from "../accounts/schema";
import { constantTimeEqual, fromBase64url } from "../crypto";
import type { Deps } from "../http/deps";
import { AuthError } from "../http/errors";
import { log } from "../http/log";
import { accountAttemptStatement, loginAttemptDecision, tooManyRequests } from "../rate-limit";
import { userIsDisabled } from "../accounts/statements";
import { signIn } from "../sessions";
import type { IssuedPair } from "../sessions/user-object";
import { CHALLENGE_TTL_MS, challengeIsLive, createChallenge, spendChallengeStatement, spentChallenge, verifyCeremony } from "./challenges";
import { passkeys } from "./schema";
import type { PasskeyRow } from "./schema";

/**
 * Options for navigator.credentials.get (PublicKeyCredentialRequestOptionsJSON, WebAuthn §5.5) with
 * no allow-list (discoverable credentials) and user verification required, and the id of the stored
 * challenge (32 random bytes, answerable for CHALLENGE_TTL_MS, 5 minutes) to post back with the
 * assertion. One D1 write; D1 errors propagate.
 */
export async function loginOptions(deps: Deps): Promise<{ challengeId: string; options: PublicKeyCredentialRequestOptionsJSON }> {
  const stored = await createChallenge(drizzle(deps.env.DB), { kind: "authentication", userId: null });
  if (!stored) throw new Error("challenge not stored"); // unguarded: names no user
  const options = await generateAuthenticationOptions({
    rpID: deps.config.webauthn.rpId,
    challenge: fromBase64url(stored.challenge) as Uint8Array<ArrayBuffer>,
    timeout: CHALLENGE_TTL_MS,
    userVerification: "required",
  });
  return { challengeId: stored.id, options };
}

/** What `POST /v1/auth/passkeys/login` carries (API.md §12). */
export interface PasskeyLoginInput {
  /** The id `loginOptions` returned with the challenge the assertion signs. */
  challengeId: string;
  /** The assertion (AuthenticationResponseJSON, WebAuthn §5.2.2 as JSON), base64url fields. */
  response: AuthenticationResponseJSON;
}

const refused = () => new AuthError("invalid_credentials", "The passkey could not be verified");

async function failed(deps: Deps, db: DrizzleD1Database, userId: string, reason: string): Promise<never> {
  await activityStatement(db, { userId, type: "sign_in_failed", method: "passkey", client: deps.client });
  log("warn", "passkey.refused", { requestId: deps.requestId, reason });
  throw refused();
}

/**
 * Signs in with a passkey assertion (`response`, as navigator.credentials.get returned it, to the
 * challenge `challengeId` of `loginOptions`): a TokenPair for the credential's account (a guest
 * stays a guest), aal2 (API.md §15). Errors (AuthError): 401 `invalid_credentials` for an unknown,
 * spent or expired challenge, an unknown credential, a wrong user handle, a failed verification or
 * a counter that did not increase (WebAuthn §6.1.1); 429 `rate_limited` past the account's failed
 * sign-in limit (with Retry-After, seconds), before the signature is checked; 403
 * `account_disabled`. D1 errors propagate.
 */
export async function loginWithPasskey(deps: Deps, input: PasskeyLoginInput): Promise<IssuedPair> {
  const db = drizzle(deps.env.DB);
  const now = Date.now();
  const rate = deps.config.accountLoginFailures;
  // One round trip for the count, the spend and both reads. (Two reads, not a join: a D1 batch
  // returns rows keyed by column name, and both tables have an `id`.) The count comes first: it
  // names the account only while the challenge is live, and the spend then deletes it.
  const credential = eq(passkeys.credentialId, String(input.response.id));
  const countedAccount = sql`SELECT ${passkeys.userId} FROM ${passkeys} WHERE ${credential} AND ${challengeIsLive(db, input.challengeId, "authentication", now)}`;
  const [counted, spent, [passkey], [user]] = await db.batch([
    accountAttemptStatement(db, countedAccount, rate, now),
    spendChallengeStatement(db, input.challengeId, "authentication"),
    db.select().from(passkeys).where(credential),
    db.select().from(users).where(inArray(users.id, db.select({ userId: passkeys.userId }).from(passkeys).where(credential))),
  ]);
  const challenge = spentChallenge(spent, now);
  if (!challenge) throw refused();
  if (!passkey || !user) throw refused();
  const decision = loginAttemptDecision(counted[0], rate, now);
  if (!decision.allowed) throw tooManyRequests(decision.retryAfter, "Too many failed attempts for this account; try again later");

  // The authenticator returns the handle it stored with the credential; it must be this passkey's.
  // The user was not identified before this ceremony, so the handle must be there (WebAuthn §7.2).
  const handle = input.response.response?.userHandle;
  if (handle === undefined || handle === null || !constantTimeEqual(String(handle), passkey.userHandle)) {
    return failed(deps, db, user.id, "user_handle");
  }
  const verified = await verifyCeremony(deps.config.webauthn, challenge, (expected) =>
    verifyAuthenticationResponse({
      response: input.response,
      ...expected,
      // The counter is checked below, where a regression can be recorded.
      credential: { id: passkey.credentialId, publicKey: fromBase64url(passkey.publicKey) as Uint8Array<ArrayBuffer>, counter: 0 },
    }),
  );
  if (!verified?.verified) return failed(deps, db, user.id, "verification");
  const counter = verified.authenticationInfo.newCounter;
  const backedUp = verified.authenticationInfo.credentialBackedUp;
  const noCounter = counter === 0 && passkey.signCount === 0;
  if (!noCounter && counter <= passkey.signCount) return failed(deps, db, user.id, "sign_counter");

  const pair = await signIn(deps, {
    userId: user.id,
    method: "passkey",
    role: user.isGuest ? "guest" : "user",
    ...(noCounter
      ? // No counter (WebAuthn §6.1.1): nothing to compare-and-set, so no guard (see the module comment).
        { alsoRun: [recordUseStatement(db, passkey, now, backedUp)] }
      : // The new counter is stored in the session's batch, which runs only while the counter is still
        // the one checked: of two assertions with one counter value, only one starts a session.
        {
          onlyIf: exists(db.select({ id: passkeys.id }).from(passkeys).where(counterUnchanged(passkey))),
          alsoRun: [db.update(passkeys).set({ signCount: counter, lastUsedAt: now, backedUp }).where(counterUnchanged(passkey))],
        }),
  });
  if (pair) return pair;
  if (await userIsDisabled(db, user.id)) throw new AuthError("account_disabled", "This account is disabled");
  throw refused();
}

/**
 * A passkey without a counter: its last use (ms; never moved backwards, so sign-ins whose writes
 * land out of order keep the latest) and its backed-up flag (WebAuthn §6.1, BS), nothing else.
 */
const recordUseStatement = (db: DrizzleD1Database, passkey: PasskeyRow, now: number, backedUp: boolean) =>
  db
    .update(passkeys)
    .set({ lastUsedAt: sql`MAX(COALESCE(${passkeys.lastUsedAt}, 0), ${now})`, backedUp })
    .where(eq(passkeys.id, passkey.id));

/** The passkey row while its counter is the one this assertion was checked against. */
const counterUnchanged = (passkey: PasskeyRow) => and(eq(passkeys.id, passkey.id), eq(passkeys.signCount, passkey.signCount));
