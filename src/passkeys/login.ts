/**
 * Sign-in with a passkey (API.md §12): discoverable credentials, so the options carry no
 * allow-list and the authenticator names the credential and its user handle. The challenge is spent
 * before anything is checked; then the credential, the user handle, the origin, the RP ID hash, the
 * user-verified flag and the signature (by @simplewebauthn/server), and the sign counter (here: one
 * that does not increase, when either side is non-zero, is refused, logged and recorded as a failed
 * sign-in). Every refusal is 401 `invalid_credentials`, counted against the account like a wrong
 * password.
 *
 * @example
 * const { challengeId, options } = await loginOptions(deps);
 * const pair = await loginWithPasskey(deps, { challengeId, response });
 */
import { generateAuthenticationOptions, verifyAuthenticationResponse } from "@simplewebauthn/server";
import type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { and, eq, exists, inArray } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { activityStatement } from "../activity";
import { users } from "../accounts/schema";
import type { UserRow } from "../accounts/schema";
import { constantTimeEqual, fromBase64url } from "../crypto";
import type { Deps } from "../http/deps";
import { AuthError } from "../http/errors";
import { log } from "../http/log";
import { loginAttemptDecision, loginAttemptStatement, tooManyRequests } from "../rate-limit";
import { userIsDisabled } from "../accounts/statements";
import { signIn } from "../sessions";
import type { IssuedPair } from "../sessions/user-object";
import { CHALLENGE_TTL_MS, createChallenge, spendChallengeStatement, spentChallenge, verifyCeremony } from "./challenges";
import { passkeys } from "./schema";
import type { PasskeyRow } from "./schema";

/** Options for navigator.credentials.get (PublicKeyCredentialRequestOptionsJSON), with no allow-list. */
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

export interface PasskeyLoginInput {
  challengeId: string;
  response: AuthenticationResponseJSON;
}

const refused = () => new AuthError("invalid_credentials", "The passkey could not be verified");

/**
 * Counts one sign-in try against the account before the signature is checked (the per-account
 * failed-login limit of API.md §6, shared with passwords and codes); 429 past it.
 */
async function countAttempt(deps: Deps, db: DrizzleD1Database, user: UserRow, now: number): Promise<void> {
  const identifier = user.emailNormalized ?? user.usernameNormalized ?? user.id;
  const rate = deps.config.accountLoginFailures;
  // The fallback key is the user id, not a hash of the identifier: a guest has neither email nor
  // username, and its count must live under `login:<user id>`, the key a successful sign-in clears.
  const [attempt] = await loginAttemptStatement(db, identifier, user.id, rate, now);
  const decision = loginAttemptDecision(attempt, rate, now);
  if (!decision.allowed) throw tooManyRequests(decision.retryAfter, "Too many failed attempts for this account; try again later");
}

async function failed(deps: Deps, db: DrizzleD1Database, userId: string, reason: string): Promise<never> {
  await activityStatement(db, { userId, type: "sign_in_failed", method: "passkey", client: deps.client });
  log("warn", "passkey.refused", { requestId: deps.requestId, reason });
  throw refused();
}

/** Signs in with a passkey assertion: a TokenPair for its account (a guest stays a guest). */
export async function loginWithPasskey(deps: Deps, input: PasskeyLoginInput): Promise<IssuedPair> {
  const db = drizzle(deps.env.DB);
  // The challenge is spent whatever the credential: one round trip for the spend and both reads. (Two
  // reads, not a join: a D1 batch returns rows keyed by column name, and both tables have an `id`.)
  const credential = eq(passkeys.credentialId, String(input.response.id));
  const [spent, [passkey], [user]] = await db.batch([
    spendChallengeStatement(db, input.challengeId, "authentication"),
    db.select().from(passkeys).where(credential),
    db.select().from(users).where(inArray(users.id, db.select({ userId: passkeys.userId }).from(passkeys).where(credential))),
  ]);
  const challenge = spentChallenge(spent);
  if (!challenge) throw refused();
  const now = Date.now();
  if (!passkey || !user) throw refused();
  await countAttempt(deps, db, user, now);

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
  if ((counter > 0 || passkey.signCount > 0) && counter <= passkey.signCount) return failed(deps, db, user.id, "sign_counter");

  // The new counter is stored in the session's batch, which runs only while the counter is still the
  // one checked: of two assertions with one counter value, only one starts a session.
  const pair = await signIn(deps, {
    userId: user.id,
    method: "passkey",
    role: user.isGuest ? "guest" : "user",
    onlyIf: exists(db.select({ id: passkeys.id }).from(passkeys).where(counterUnchanged(passkey))),
    alsoRun: [
      db.update(passkeys).set({ signCount: counter, lastUsedAt: now, backedUp: verified.authenticationInfo.credentialBackedUp }).where(counterUnchanged(passkey)),
    ],
  });
  if (pair) return pair;
  if (await userIsDisabled(db, user.id)) throw new AuthError("account_disabled", "This account is disabled");
  throw refused();
}

/** The passkey row while its counter is the one this assertion was checked against. */
const counterUnchanged = (passkey: PasskeyRow) => and(eq(passkeys.id, passkey.id), eq(passkeys.signCount, passkey.signCount));
