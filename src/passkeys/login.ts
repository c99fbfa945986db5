/**
 * Sign-in with a passkey (API.md §12): discoverable credentials, so the options carry no
 * allow-list and the authenticator names the credential and its user handle. The challenge is spent
 * before anything is checked; then the credential, the user handle, the origin, the RP ID hash, the
 * user-verified flag and the signature (by @simplewebauthn/server), and the signature counter (here:
 * one that does not increase, when either side is non-zero, is refused, logged and recorded as a
 * failed sign-in). Every refusal is 401 `invalid_credentials`, counted against the account like a
 * wrong password; past the account's limit (API.md §6) the answer is 429 before the signature's
 * answer is used.
 *
 * Writes and trips (issue 27, slice 6: a passkey sign-in writes D1 once, as a password's does):
 *
 * - **Options: no I/O.** The challenge is derived from its id (src/passkeys/login-challenge.ts): no
 *   D1 row, no trip to the primary.
 * - **Sign-in: one D1 read, no write before the session.** The challenge is spent in its own Durable
 *   Object (src/passkeys/challenge-object.ts) while one D1 read batch finds the passkey, its user and
 *   the account's counter. A challenge that is malformed, expired or used before is refused with
 *   nothing counted, as is an unknown credential. Then the check is gated in the account's object, as
 *   a password's is (src/rate-limit/login-attempt.ts `reserveAccountAttempt`): the user-handle and
 *   signature checks run while the reservation is on its way; a failure is counted in D1 with its
 *   `sign_in_failed` event (one write), a success's session clears the count in its own writes.
 *   Then `signIn` (src/sessions/issue.ts) starts the session in the user's object: its D1 writes
 *   (the one write transaction) follow the answer.
 *
 * The signature counter (WebAuthn §6.1.1): a counter that does not increase may mean a cloned
 * authenticator, so a non-zero one is checked and stored by compare-and-set: `signIn` gets
 * `onlyIf` "the stored counter is still the one checked" and stores the new counter in the same
 * batch, so of two assertions signed with one counter value only one starts a session (that path
 * writes its session batch on the request's path). A counter that is 0 on both sides (stored and
 * asserted) means the authenticator does not implement one (§6.1.1; synced passkeys always report 0):
 * there is nothing to compare or set, so `signIn` gets no `onlyIf`, and may start the session without
 * a D1 trip on the request's path, while its `alsoRun` records the last use (never moved backwards)
 * and the backed-up flag. Replay is still impossible: each assertion signs its own challenge, which
 * the first use spent. A removal of the passkey that lands between the read and the session is
 * ordered after the sign-in, as if it had come a moment later (removing a passkey does not end the
 * sessions it started).
 *
 * @example
 * const { challengeId, options } = await loginOptions(deps);
 * const pair = await loginWithPasskey(deps, { challengeId, response }); // 401, 403, 429 or 503 AuthError
 */
import { generateAuthenticationOptions, verifyAuthenticationResponse } from "@simplewebauthn/server";
import type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { and, eq, exists, inArray, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { activityStatement } from "../activity";
import { users } from "../accounts/schema";
import { base64url, constantTimeEqual, fromBase64url } from "../crypto";
import type { Deps } from "../http/deps";
import { AuthError } from "../http/errors";
import { log } from "../http/log";
import { accountAttemptRead } from "../rate-limit";
import { reserveAccountAttempt } from "../rate-limit/login-attempt";
import { userMatches } from "../accounts/statements";
import { signIn } from "../sessions";
import type { IssuedPair } from "../sessions/user-object";
import { credentialIdBytes, inEitherForm } from "./bytes";
import { uuidIs } from "../db/uuid-bytes";
import { CHALLENGE_TTL_MS, verifyCeremony } from "./challenges";
import { loginChallengeOf, newLoginChallenge, spendLoginChallenge } from "./login-challenge";
import { passkeys } from "./schema";
import type { PasskeyRow } from "./schema";

/**
 * Options for navigator.credentials.get (PublicKeyCredentialRequestOptionsJSON, WebAuthn §5.5) with
 * no allow-list (discoverable credentials) and user verification required, and the challenge's id
 * (a UUID version 7; the 32-byte challenge is derived from it, answerable for CHALLENGE_TTL_MS, 5
 * minutes) to post back with the assertion. No I/O: nothing is stored until the challenge is used.
 */
export async function loginOptions(deps: Deps): Promise<{ challengeId: string; options: PublicKeyCredentialRequestOptionsJSON }> {
  const made = await newLoginChallenge(deps.config);
  const options = await generateAuthenticationOptions({
    rpID: deps.config.webauthn.rpId,
    challenge: fromBase64url(made.challenge) as Uint8Array<ArrayBuffer>,
    timeout: CHALLENGE_TTL_MS,
    userVerification: "required",
  });
  return { challengeId: made.id, options };
}

/** What `POST /v1/auth/passkeys/login` carries (API.md §12). */
export interface PasskeyLoginInput {
  /** The id `loginOptions` returned with the challenge the assertion signs. */
  challengeId: string;
  /** The assertion (AuthenticationResponseJSON, WebAuthn §5.2.2 as JSON), base64url fields. */
  response: AuthenticationResponseJSON;
}

const refused = () => new AuthError("invalid_credentials", "The passkey could not be verified");
const unavailable = () => new AuthError("unavailable", "The service is busy; try again shortly", undefined, 5);

/** Why a checked assertion is refused (logged as `passkey.refused`), or its verified counter and backed-up flag. */
type Checked = { refusal: "user_handle" | "verification" | "sign_counter" } | { refusal: null; counter: number; backedUp: boolean };

/**
 * Signs in with a passkey assertion (`response`, as navigator.credentials.get returned it, to the
 * challenge `challengeId` of `loginOptions`): a TokenPair for the credential's account (a guest
 * stays a guest), aal2 (API.md §15). Errors (AuthError): 401 `invalid_credentials` for an unknown,
 * spent or expired challenge, an unknown credential, a wrong user handle, a failed verification or
 * a counter that did not increase (WebAuthn §6.1.1); 429 `rate_limited` past the account's failed
 * sign-in limit (with Retry-After, seconds); 403 `account_disabled`; 503 `unavailable` when the
 * challenge's object or the account's gate cannot be reached. D1 errors propagate.
 */
export async function loginWithPasskey(deps: Deps, input: PasskeyLoginInput): Promise<IssuedPair> {
  const db = drizzle(deps.env.DB);
  const challenge = await loginChallengeOf(deps.config, input.challengeId, Date.now());
  if (!challenge) throw refused();
  // The spend and the one D1 read (three reads, not a join: a D1 batch returns rows keyed by column
  // name, and both tables have an `id`) go together; a spend that fails is a 503, a later use a 401.
  // In either stored form (./bytes.ts); an id that is not canonical base64url is no credential's
  // (found by nothing, as an unknown one: the challenge is spent all the same).
  const credentialId = credentialIdBytes(String(input.response.id));
  const credential = credentialId ? inEitherForm(passkeys.credentialId, credentialId) : sql`0`;
  // One row, and its user, even for an id stored in both forms: the version before this one, registering
  // during a gradual deploy or after a rollback, sees text only (its guard and the UNIQUE index), so it
  // can add the text beside a BLOB of another account. The BLOB is the one registered under both forms'
  // guard; the passkey and the user read must be the same row's (else a credential signs in as the
  // other row's user), and the text one is never used (its rewrite would hit the UNIQUE index).
  const blobFirst = sql`typeof(${passkeys.credentialId}) = 'blob' DESC`;
  const owner = db.select({ userId: passkeys.userId }).from(passkeys).where(credential).orderBy(blobFirst).limit(1);
  const spending = spendLoginChallenge(deps.env, challenge).catch((error: unknown) => {
    log("warn", "passkey.challenge_unavailable", { requestId: deps.requestId, name: error instanceof Error ? error.name : typeof error });
    return null;
  });
  // Whether the row still keeps any binary field or its id as text (a row from before slice 10 or 11):
  // the sign-in's write then rewrites them as BLOBs (`binaryFields`); a row in BLOBs is not rewritten
  // (no index write). Transports are not asked: a list with no bits form stays text for good.
  const inText = sql<number>`(typeof(${passkeys.credentialId}) = 'text' OR typeof(${passkeys.publicKey}) = 'text' OR typeof(${passkeys.userHandle}) = 'text' OR typeof(${passkeys.id}) = 'text')`;
  const [counted, [found], [user]] = await db.batch([
    accountAttemptRead(db, sql`${owner}`),
    db.select({ passkey: passkeys, inText }).from(passkeys).where(credential).orderBy(blobFirst).limit(1),
    db.select().from(users).where(inArray(users.id, owner)),
  ]);
  const spent = await spending;
  if (spent === null) throw unavailable();
  const passkey = found?.passkey;
  if (!spent || !passkey || !user || user.id !== passkey.userId) throw refused();
  const rewrite = found.inText ? binaryFields(passkey) : {};

  // The account's gate decides before the checks' answer is used; they run while it is asked.
  const attempt = await reserveAccountAttempt(deps, { userId: user.id, seen: counted[0] ?? null, found: passkey }, (found) => checkAssertion(deps, input, challenge.challenge, found));
  try {
    const checked = attempt.checked;
    if (checked.refusal !== null) {
      await attempt.fail([activityStatement(db, { userId: user.id, type: "sign_in_failed", method: "passkey", client: deps.client })]);
      log("warn", "passkey.refused", { requestId: deps.requestId, reason: checked.refusal });
      throw refused();
    }
    const { counter, backedUp } = checked;
    const now = Date.now();
    const noCounter = counter === 0 && passkey.signCount === 0;
    const pair = await signIn(deps, {
      userId: user.id,
      method: "passkey",
      role: user.isGuest ? "guest" : "user",
      attempt: attempt.handle,
      ...(noCounter
        ? // No counter (WebAuthn §6.1.1): nothing to compare-and-set, so no guard (see the module comment).
          { alsoRun: [recordUseStatement(db, passkey, now, backedUp, rewrite)] }
        : // The new counter is stored in the session's batch, which runs only while the counter is still
          // the one checked: of two assertions with one counter value, only one starts a session.
          {
            onlyIf: exists(db.select({ id: passkeys.id }).from(passkeys).where(counterUnchanged(passkey))),
            // Only with the session: not for an account disabled meanwhile, whose sign-in is refused.
            alsoRun: [db.update(passkeys).set({ signCount: counter, lastUsedAt: now, backedUp, ...rewrite }).where(and(counterUnchanged(passkey), userMatches(db, user.id, { enabled: true })))],
          }),
    });
    if (pair) {
      await attempt.succeeded();
      return pair;
    }
    // The guard did not hold: a disable (403, as when found so before), or the counter moved by a
    // concurrent assertion with the same value (a counter that did not increase: refused and recorded, API.md §12).
    return await attempt.signInRefused({ method: "passkey", error: refused, log: () => log("warn", "passkey.refused", { requestId: deps.requestId, reason: "sign_counter" }) });
  } finally {
    await attempt.release(); // nothing, when the attempt was ended above
  }
}

/**
 * The checks of an assertion against its passkey (run while the account's gate is asked): the user
 * handle the authenticator returned (it must be this passkey's: the user was not identified before
 * the ceremony, WebAuthn §7.2), the ceremony (@simplewebauthn/server: origin, RP ID hash, UV flag,
 * signature over the challenge), and the signature counter.
 */
async function checkAssertion(deps: Deps, input: PasskeyLoginInput, challenge: string, passkey: PasskeyRow): Promise<Checked> {
  const handle = input.response.response?.userHandle;
  if (handle === undefined || handle === null || !constantTimeEqual(String(handle), base64url(passkey.userHandle))) return { refusal: "user_handle" };
  const verified = await verifyCeremony(deps.config.webauthn, { id: input.challengeId, challenge, userId: null, userHandle: null }, (expected) =>
    verifyAuthenticationResponse({
      response: input.response,
      ...expected,
      // The counter is checked below, where a regression can be recorded.
      credential: { id: base64url(passkey.credentialId), publicKey: passkey.publicKey as Uint8Array<ArrayBuffer>, counter: 0 },
    }),
  );
  if (!verified?.verified) return { refusal: "verification" };
  const counter = verified.authenticationInfo.newCounter;
  if (!(counter === 0 && passkey.signCount === 0) && counter <= passkey.signCount) return { refusal: "sign_counter" };
  return { refusal: null, counter, backedUp: verified.authenticationInfo.credentialBackedUp };
}

/**
 * A passkey without a counter: its last use (ms; never moved backwards, so sign-ins whose writes
 * land out of order keep the latest) and its backed-up flag (WebAuthn §6.1, BS), and `rewrite` (the
 * binary fields of a row kept in text: `binaryFields`, else none); only while the account is enabled
 * (a refused sign-in of a disabled account records no use).
 */
const recordUseStatement = (db: DrizzleD1Database, passkey: PasskeyRow, now: number, backedUp: boolean, rewrite: Partial<PasskeyRow>) =>
  db
    .update(passkeys)
    .set({ lastUsedAt: sql`MAX(COALESCE(${passkeys.lastUsedAt}, 0), ${now})`, backedUp, ...rewrite })
    .where(and(eq(passkeys.userId, passkey.userId), uuidIs(passkeys.id, passkey.id), userMatches(db, passkey.userId, { enabled: true })));

/**
 * The passkey's binary fields, rewritten with its use when its row keeps any as base64url text (a row
 * from before issue 27's slice 10: ./bytes.ts); the sign-in writes the row anyway. Its id and
 * transports join them, to their BLOB forms of slice 11 (src/db/uuid-bytes.ts, ./transports.ts).
 */
const binaryFields = (passkey: PasskeyRow) => ({
  id: passkey.id,
  credentialId: passkey.credentialId,
  publicKey: passkey.publicKey,
  userHandle: passkey.userHandle,
  transports: passkey.transports,
});

/**
 * The passkey row while its counter is the one this assertion was checked against (by user and id:
 * the table's index for a passkey's id is its user's, src/passkeys/schema.ts).
 */
const counterUnchanged = (passkey: PasskeyRow) => and(eq(passkeys.userId, passkey.userId), uuidIs(passkeys.id, passkey.id), eq(passkeys.signCount, passkey.signCount));
