/**
 * Passkeys (API.md §12), the account side: registration (options, then the authenticator's
 * response), listing, renaming and removing. Sign-in with a passkey is in ./login.ts. WebAuthn
 * itself (CBOR, COSE keys, attestation, signatures) is @simplewebauthn/server's, on WebCrypto.
 *
 * Registration asks for a discoverable credential (resident key) with user verification, offers
 * ES256 and RS256 only, wants no attestation, and excludes the user's existing credentials. The
 * WebAuthn user handle is 32 random bytes per user, the same on all of its passkeys (it lives on
 * their rows), never the user id or the email.
 *
 * @example
 * const { challengeId, options } = await registrationOptions(deps, auth);
 * const passkey = await registerPasskey(deps, auth, { challengeId, response, name: "Laptop" });
 */
import { generateRegistrationOptions, verifyRegistrationResponse } from "@simplewebauthn/server";
import type { PublicKeyCredentialCreationOptionsJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import { and, asc, eq, or, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { activityStatement } from "../activity";
import { drainSoon } from "../activity/drain-soon";
import { requireAal2ToAddFactor, requireAnotherWayToSignIn, requireReauthentication } from "../accounts/reauthentication";
import type { ReauthProof } from "../accounts/reauthentication";
import { users } from "../accounts/schema";
import { base64url, fromBase64url, randomToken } from "../crypto";
import { insertForUser } from "../db/insert-where";
import type { Deps } from "../http/deps";
import { AuthError, invalidRequest } from "../http/errors";
import { identities } from "../identities/schema";
import type { Auth } from "../sessions";
import { livenessStatement, sessionIsLive } from "../sessions/statements";
import { inEitherForm } from "./bytes";
import { uuidIs, uuidIsNot } from "../db/uuid-bytes";
import { createChallenge, spendChallenge, verifyCeremony, CHALLENGE_TTL_MS } from "./challenges";
import { passkeys } from "./schema";
import type { PasskeyRow } from "./schema";

/** At most this many passkeys per user. */
export const MAX_PASSKEYS = 10;
/** COSE algorithms offered: ES256 (-7) and RS256 (-257). */
export const SUPPORTED_ALGORITHMS = [-7, -257];

/** A passkey as its owner sees it. */
export interface PasskeyView {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  backedUp: boolean;
}

export function passkeyView(row: PasskeyRow): PasskeyView {
  return {
    id: row.id,
    name: row.name,
    createdAt: new Date(row.createdAt).toISOString(),
    lastUsedAt: row.lastUsedAt === null ? null : new Date(row.lastUsedAt).toISOString(),
    backedUp: row.backedUp,
  };
}

const sessionEnded = () => new AuthError("invalid_token", "The session has ended");
const alreadyRegistered = () => new AuthError("conflict", "This passkey is already registered");
const tooMany = () => new AuthError("conflict", `An account can have at most ${MAX_PASSKEYS} passkeys; remove one first`);
const unverifiable = () => invalidRequest("response", "could not be verified");

/**
 * Options for navigator.credentials.create (PublicKeyCredentialCreationOptionsJSON); 409 past
 * MAX_PASSKEYS; 403 `reauthentication_required` for an account with a second factor unless the
 * session is aal2 proven within 10 minutes (a passkey is aal2 on its own, API.md §15).
 */
export async function registrationOptions(deps: Deps, auth: Auth): Promise<{ challengeId: string; options: PublicKeyCredentialCreationOptionsJSON }> {
  requireAal2ToAddFactor(auth);
  const db = drizzle(deps.env.DB);
  const existing = await db.select().from(passkeys).where(eq(passkeys.userId, auth.userId)).orderBy(asc(passkeys.createdAt));
  if (existing.length >= MAX_PASSKEYS) throw tooMany();
  const userHandle = existing[0] ? base64url(existing[0].userHandle) : randomToken(32);
  const stored = await createChallenge(db, { kind: "registration", userId: auth.userId, userHandle, onlyIf: sessionIsLive(db, auth) });
  if (!stored) throw sessionEnded();
  const user = auth.user;
  const userName = user.email ?? user.username ?? `${deps.config.webauthn.rpName} guest`;
  const options = await generateRegistrationOptions({
    rpName: deps.config.webauthn.rpName,
    rpID: deps.config.webauthn.rpId,
    userName,
    userDisplayName: user.username ?? userName,
    userID: fromBase64url(userHandle) as Uint8Array<ArrayBuffer>,
    challenge: fromBase64url(stored.challenge) as Uint8Array<ArrayBuffer>,
    timeout: CHALLENGE_TTL_MS,
    attestationType: "none",
    excludeCredentials: existing.map((p) => ({ id: base64url(p.credentialId), ...(p.transports ? { transports: JSON.parse(p.transports) as string[] } : {}) })),
    authenticatorSelection: { residentKey: "required", requireResidentKey: true, userVerification: "required" },
    supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
  });
  return { challengeId: stored.id, options };
}

export interface RegisterInput {
  challengeId: string;
  response: RegistrationResponseJSON;
  name?: string | undefined;
}

/**
 * Verifies the authenticator's answer to a registration challenge and stores the passkey, with its
 * `passkey_added` event in the same batch. 400 when the challenge is unknown, spent, expired or
 * another user's, or the response does not verify; 409 past MAX_PASSKEYS or for a credential
 * already registered; 403 `reauthentication_required` as for the options (checked again here: a
 * challenge fetched by an aal2 session must not serve an aal1 one).
 */
export async function registerPasskey(deps: Deps, auth: Auth, input: RegisterInput): Promise<PasskeyView> {
  requireAal2ToAddFactor(auth);
  const db = drizzle(deps.env.DB);
  const challenge = await spendChallenge(db, input.challengeId, "registration", auth.userId);
  if (!challenge?.userHandle) throw invalidRequest("challengeId", "is unknown, already used or expired");
  const verified = await verifyCeremony(deps.config.webauthn, challenge, (expected) =>
    verifyRegistrationResponse({ response: input.response, ...expected, supportedAlgorithmIDs: SUPPORTED_ALGORITHMS }),
  );
  if (!verified?.verified) throw unverifiable();
  const info = verified.registrationInfo;
  const credentialId = fromBase64url(info.credential.id);
  // WebAuthn §6.1: a credential id is 16 to 1023 bytes (no authenticator makes a shorter one); one of
  // no bytes would be stored and never found.
  if (credentialId.length < 16 || credentialId.length > 1023) throw unverifiable();
  const now = Date.now();
  const row: PasskeyRow = {
    id: crypto.randomUUID(),
    userId: auth.userId,
    credentialId,
    publicKey: info.credential.publicKey,
    signCount: info.credential.counter,
    transports: info.credential.transports?.length ? JSON.stringify(info.credential.transports) : null,
    userHandle: fromBase64url(challenge.userHandle),
    backedUp: info.credentialBackedUp,
    name: input.name?.trim() || "Passkey",
    createdAt: now,
    lastUsedAt: null,
  };
  // Under the limit, and the same handle as the user's other passkeys (a concurrent first
  // registration with another handle loses), checked in the INSERT itself; each in either stored
  // form (./bytes.ts), as is the credential's uniqueness (the UNIQUE index sees one form only).
  const fits = sql`(SELECT COUNT(*) FROM ${passkeys} WHERE ${passkeys.userId} = ${auth.userId}) < ${MAX_PASSKEYS}
    AND NOT EXISTS (SELECT 1 FROM ${passkeys} WHERE ${passkeys.userId} = ${auth.userId} AND NOT ${inEitherForm(passkeys.userHandle, row.userHandle)})`;
  const credentialTaken = sql`EXISTS (SELECT 1 FROM ${passkeys} WHERE ${inEitherForm(passkeys.credentialId, row.credentialId)})`;
  // By user and id, as every query by a passkey's id (its index is the user's: src/passkeys/schema.ts).
  const added = sql`EXISTS (SELECT 1 FROM ${passkeys} WHERE ${passkeys.userId} = ${auth.userId} AND ${uuidIs(passkeys.id, row.id)})`;
  const [inserted] = await db
    .batch([
      insertForUser(db, passkeys, row, and(fits, sql`NOT ${credentialTaken}`, sessionIsLive(db, auth, now))),
      activityStatement(db, { userId: auth.userId, type: "passkey_added", sessionId: auth.sessionId, client: deps.client, at: now }, added),
    ])
    .catch((error: unknown) => {
      let text = "";
      for (let e: unknown = error; e instanceof Error; e = e.cause) text += ` ${e.message}`;
      if (text.includes("credential_id")) throw alreadyRegistered();
      throw error;
    });
  if (inserted.meta.changes !== 1) {
    // Refused by the limit, by the credential registered before (in the other stored form), or by a
    // session that ended meanwhile (the account deleted, say): 401 then.
    if ((await livenessStatement(db, auth, Date.now())).length === 0) throw sessionEnded();
    const [taken] = await db.select({ id: passkeys.id }).from(passkeys).where(inEitherForm(passkeys.credentialId, row.credentialId)).limit(1);
    if (taken) throw alreadyRegistered();
    throw tooMany();
  }
  drainSoon(deps, auth.userId);
  return passkeyView(row);
}

export async function listPasskeys(deps: Deps, auth: Auth): Promise<PasskeyView[]> {
  const rows = await drizzle(deps.env.DB).select().from(passkeys).where(eq(passkeys.userId, auth.userId)).orderBy(asc(passkeys.createdAt));
  return rows.map(passkeyView);
}

export async function renamePasskey(deps: Deps, auth: Auth, passkeyId: string, name: string): Promise<PasskeyView> {
  const [row] = await drizzle(deps.env.DB)
    .update(passkeys)
    .set({ name: name.trim() })
    .where(and(uuidIs(passkeys.id, passkeyId), eq(passkeys.userId, auth.userId)))
    .returning();
  if (!row) throw new AuthError("not_found", "No such passkey");
  return passkeyView(row);
}

/**
 * Removes one of the caller's passkeys after re-authentication (API.md §9); 404 when it is not
 * the caller's, 409 when it is a full account's last way to sign in. The check is repeated inside
 * the DELETE, so two concurrent removals cannot together take away the last way.
 */
export async function removePasskey(deps: Deps, auth: Auth, passkeyId: string, password: ReauthProof | string | undefined): Promise<void> {
  const db = drizzle(deps.env.DB);
  const [found] = await db.select({ id: passkeys.id }).from(passkeys).where(and(uuidIs(passkeys.id, passkeyId), eq(passkeys.userId, auth.userId)));
  if (!found) throw new AuthError("not_found", "No such passkey");
  await requireReauthentication(deps, auth, password);
  await requireAnotherWayToSignIn(deps, auth.user, { passkeyId });
  const anotherWay = or(
    sql`EXISTS (SELECT 1 FROM ${users} WHERE ${users.id} = ${auth.userId} AND (${users.isGuest} = 1 OR ${users.passwordHash} IS NOT NULL OR (${users.emailVerifiedAt} IS NOT NULL AND ${users.email} IS NOT NULL)))`,
    sql`EXISTS (SELECT 1 FROM ${passkeys} AS other WHERE other.user_id = ${auth.userId} AND ${uuidIsNot(sql`other.id`, passkeyId)})`,
    sql`EXISTS (SELECT 1 FROM ${identities} WHERE ${identities.userId} = ${auth.userId})`,
  );
  const now = Date.now();
  const [, removed] = await db.batch([
    // The event first, guarded by the same conditions, so it is written only with the removal.
    activityStatement(
      db,
      { userId: auth.userId, type: "passkey_removed", sessionId: auth.sessionId, client: deps.client, at: now },
      sql`EXISTS (SELECT 1 FROM ${passkeys} WHERE ${uuidIs(passkeys.id, passkeyId)} AND ${passkeys.userId} = ${auth.userId}) AND ${anotherWay}`,
    ),
    db.delete(passkeys).where(and(uuidIs(passkeys.id, passkeyId), eq(passkeys.userId, auth.userId), anotherWay)),
  ]);
  // More than one row only for a UUID kept in both forms (hand-made: src/db/uuid-bytes.ts): all of it went.
  if (removed.meta.changes === 0) throw new AuthError("conflict", "This is the last way to sign in to the account; add another first");
  drainSoon(deps, auth.userId);
}
