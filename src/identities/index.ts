/**
 * Sign-in with Apple, Google and any OpenID provider (API.md §13): the native ID-token sign-in, the
 * web code flow's token exchange, and a signed-in user's linked identities.
 *
 * Which account a proven identity (provider, `sub`) signs into, in this order:
 * 1. the identity is linked already → its user;
 * 2. the caller is a guest (Bearer) → the identity is linked to the guest, upgraded in place (same
 *    id, sessions kept, the verified email adopted; a taken email → 409, nothing changes);
 * 3. the token's verified email matches an account whose address is verified → linked to it; a
 *    matching account whose address is not verified → 409, no link (it may be a stranger's
 *    pre-registration);
 * 4. otherwise a new full account without a password.
 * A disabled account answers 403 `account_disabled`. Every link writes `identity_linked` in its batch.
 *
 * @example
 * const pair = await signInWithIdToken(deps, auth, { provider: "google", idToken, nonce });
 */
import { changeUser } from "../accounts/change-user";
import { publish, userEvent } from "../events";
import { and, asc, eq, sql } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { activityStatement } from "../activity";
import { drainSoon } from "../activity/drain-soon";
import type { SignInMethod } from "../activity";
import { requireAnotherWayToSignIn, requireReauthentication } from "../accounts/reauthentication";
import type { ReauthProof } from "../accounts/reauthentication";
import { users } from "../accounts/schema";
import type { UserRow } from "../accounts/schema";
import { upgradeGuestInPlace } from "../accounts/upgrade-in-place";
import { normalizeEmail } from "../accounts/users";
import { insertForUser } from "../db/insert-where";
import type { Deps } from "../http/deps";
import { userSessions } from "../http/deps";
import { AuthError } from "../http/errors";
import { passkeys } from "../passkeys/schema";
import { userIsDisabled } from "../accounts/statements";
import { addressProvenStatements } from "../accounts/address-proven";
import { sessionIsLive } from "../sessions/statements";
import { signIn } from "../sessions";
import type { Auth } from "../sessions";
import type { IssuedPair } from "../sessions/user-object";
import { verifyIdToken } from "./id-token";
import type { VerifiedIdentity } from "./id-token";
import { findProvider } from "./providers";
import type { Provider } from "./providers";
import { identities } from "./schema";
import type { IdentityRow } from "./schema";
import { redeemCode } from "./web-flow";

export { authorizationUrl, completeCallback } from "./web-flow";

/** A linked identity as the API shows it. */
export interface IdentityView {
  id: string;
  provider: string;
  email: string | null;
  createdAt: number;
}

const view = (row: IdentityRow): IdentityView => ({ id: row.id, provider: row.provider, email: row.email, createdAt: row.createdAt });

/** The configured provider `name`; 404 `not_found` for an unknown or unconfigured one. */
export function requireProvider(deps: Deps, name: string): Provider {
  const provider = findProvider(deps.config.oidcProviders, name);
  if (!provider) throw new AuthError("not_found", "No such identity provider");
  return provider;
}

export interface IdTokenInput {
  provider: string;
  idToken: string;
  nonce?: string | undefined;
}

/** POST /v1/auth/id-token: the native flow. `auth` is the caller's session when it sent a Bearer token. */
export async function signInWithIdToken(deps: Deps, auth: Auth | undefined, input: IdTokenInput): Promise<IssuedPair> {
  const identity = await verifyIdToken(deps, requireProvider(deps, input.provider), input.idToken, input.nonce);
  return signInWithIdentity(deps, auth, identity, "id_token");
}

/** POST /v1/auth/oauth/token: spends the web flow's one-time code. */
export async function exchangeCode(deps: Deps, auth: Auth | undefined, code: string): Promise<IssuedPair> {
  return signInWithIdentity(deps, auth, await redeemCode(deps, code), "oauth");
}

/** Maps a UNIQUE violation on (provider, subject) to 409; anything else is rethrown. */
function linkedElsewhere(error: unknown): never {
  let text = "";
  for (let e: unknown = error; e instanceof Error; e = e.cause) text += ` ${e.message}`;
  if (/identities\.provider|identities_provider_subject/.test(text)) throw new AuthError("conflict", "This identity is linked to another account");
  if (text.includes("email_normalized")) throw new AuthError("conflict", "The email belongs to another account", [{ field: "email", message: "is already taken" }]);
  throw error;
}

const identityRow = (userId: string, identity: VerifiedIdentity, now: number) => ({
  id: crypto.randomUUID(),
  userId,
  provider: identity.provider,
  subject: identity.subject,
  email: identity.email,
  createdAt: now,
});

/**
 * The identity's link and its `identity_linked` event, both only while `onlyIf` holds and the user
 * exists (a link racing the account's deletion writes nothing). `row` names the link's id up front.
 */
function linkStatements(deps: Deps, db: DrizzleD1Database, row: ReturnType<typeof identityRow>, sessionId: string | null, onlyIf?: SQL) {
  return [
    insertForUser(db, identities, row, onlyIf),
    activityStatement(db, { userId: row.userId, type: "identity_linked", sessionId, client: deps.client, at: row.createdAt }, onlyIf),
  ] as const;
}

async function startSession(deps: Deps, user: UserRow, method: SignInMethod): Promise<IssuedPair> {
  if (user.disabledAt !== null) throw new AuthError("account_disabled", "This account is disabled");
  const pair = await signIn(deps, { userId: user.id, method, role: user.isGuest ? "guest" : "user" });
  if (pair) return pair;
  if (await userIsDisabled(drizzle(deps.env.DB), user.id)) throw new AuthError("account_disabled", "This account is disabled");
  throw new AuthError("invalid_credentials", "The account is gone");
}

/** The account resolution described at the top of this module. */
async function signInWithIdentity(deps: Deps, auth: Auth | undefined, identity: VerifiedIdentity, method: SignInMethod): Promise<IssuedPair> {
  const db = drizzle(deps.env.DB);
  const [linked] = await db
    .select({ user: users })
    .from(identities)
    .innerJoin(users, eq(users.id, identities.userId))
    .where(and(eq(identities.provider, identity.provider), eq(identities.subject, identity.subject)));
  if (linked) return startSession(deps, linked.user, method);

  if (auth?.user.isGuest) {
    // The link lands only if this upgrade did (the update before it in the batch made the row a full account).
    const upgraded = sql`EXISTS (SELECT 1 FROM ${users} WHERE ${users.id} = ${auth.userId} AND ${users.isGuest} = 0)`;
    const row = identityRow(auth.userId, identity, Date.now());
    const extra = [...linkStatements(deps, db, row, auth.sessionId, upgraded)];
    return upgradeGuestInPlace(deps, auth, { email: identity.emailVerified ? identity.email : null, extra, identityId: row.id }).catch(linkedElsewhere);
  }

  if (identity.email !== null && identity.emailVerified) {
    const [owner] = await db.select().from(users).where(eq(users.emailNormalized, normalizeEmail(identity.email)));
    if (owner) {
      if (owner.emailVerifiedAt === null) {
        throw new AuthError("conflict", "An account with this email exists but its address is not verified; sign in to it and link this identity");
      }
      if (owner.disabledAt !== null) throw new AuthError("account_disabled", "This account is disabled");
      // The provider's verified email proves the address (src/accounts/address-proven.ts): for an
      // address verified already, as here, nothing changes hands; the identity itself is kept.
      const row = identityRow(owner.id, identity, Date.now());
      const proof = { userId: owner.id, emailNormalized: owner.emailNormalized!, now: row.createdAt, client: deps.client, keep: { identityId: row.id } };
      await changeUser(deps, owner.id, () => db.batch([...addressProvenStatements(db, proof), ...linkStatements(deps, db, row, null)])).catch(linkedElsewhere);
      return startSession(deps, owner, method);
    }
  }

  const now = Date.now();
  const verifiedEmail = identity.emailVerified ? identity.email : null;
  const user = {
    id: crypto.randomUUID(),
    email: verifiedEmail,
    emailNormalized: verifiedEmail === null ? null : normalizeEmail(verifiedEmail),
    isGuest: false,
    emailVerifiedAt: verifiedEmail === null ? null : now,
    createdAt: now,
    updatedAt: now,
  };
  const event = userEvent(db, "user.created", user.id, { at: now });
  const [, , , , created] = await db
    .batch([db.insert(users).values(user), ...linkStatements(deps, db, identityRow(user.id, identity, now), null), event.statement, db.select().from(users).where(eq(users.id, user.id))])
    .catch(linkedElsewhere);
  publish(deps, event);
  return startSession(deps, created[0]!, method);
}

/** POST /v1/auth/identities: links the identity in `input` to the signed-in full account. */
export async function linkIdentity(deps: Deps, auth: Auth, input: IdTokenInput): Promise<IdentityView> {
  const provider = requireProvider(deps, input.provider);
  if (auth.user.isGuest) throw new AuthError("forbidden", "A guest links an identity by signing in with it (POST /v1/auth/id-token with its Bearer token)");
  const identity = await verifyIdToken(deps, provider, input.idToken, input.nonce);
  const db = drizzle(deps.env.DB);
  const find = () => db.select().from(identities).where(and(eq(identities.provider, identity.provider), eq(identities.subject, identity.subject)));
  const [existing] = await find();
  if (existing) {
    if (existing.userId !== auth.userId) throw new AuthError("conflict", "This identity is linked to another account");
    return view(existing);
  }
  // Only while the caller's session is live: a link racing the account's deletion (or the owner's
  // proof of its address) writes nothing, and is a 401.
  const live = sessionIsLive(db, auth);
  const [inserted] = await db.batch(linkStatements(deps, db, identityRow(auth.userId, identity, Date.now()), auth.sessionId, live)).catch(linkedElsewhere);
  if (inserted.meta.changes !== 1) throw new AuthError("invalid_token", "The session has ended");
  drainSoon(deps, auth.userId);
  const [row] = await find();
  if (!row || row.userId !== auth.userId) throw new AuthError("conflict", "This identity is linked to another account");
  return view(row);
}

/** GET /v1/auth/identities: the caller's linked identities, oldest first. */
export async function listIdentities(deps: Deps, auth: Auth): Promise<IdentityView[]> {
  const rows = await drizzle(deps.env.DB).select().from(identities).where(eq(identities.userId, auth.userId)).orderBy(asc(identities.createdAt), asc(identities.id));
  return rows.map(view);
}

/**
 * DELETE /v1/auth/identities/:id: re-authentication (API.md §9), then the unlink, which takes effect
 * only while the account keeps another way to sign in (checked again inside the delete, so two
 * concurrent unlinks cannot both remove "the other" way). 404 for an identity that is not the caller's.
 */
export async function unlinkIdentity(deps: Deps, auth: Auth, identityId: string, password: ReauthProof | string | undefined): Promise<void> {
  const db = drizzle(deps.env.DB);
  const [row] = await db.select().from(identities).where(and(eq(identities.id, identityId), eq(identities.userId, auth.userId)));
  if (!row) throw new AuthError("not_found", "No such identity");
  await requireReauthentication(deps, auth, password);
  await requireAnotherWayToSignIn(deps, auth.user, { identityId });
  const userId = auth.userId;
  const anotherWay = sql`(
    EXISTS (SELECT 1 FROM ${users} WHERE ${users.id} = ${userId} AND (${users.isGuest} = 1 OR ${users.passwordHash} IS NOT NULL OR (${users.email} IS NOT NULL AND ${users.emailVerifiedAt} IS NOT NULL)))
    OR EXISTS (SELECT 1 FROM ${passkeys} WHERE ${passkeys.userId} = ${userId})
    OR EXISTS (SELECT 1 FROM identities AS other WHERE other.user_id = ${userId} AND other.id <> ${identityId}))`;
  const [deleted] = await db.batch([
    db.delete(identities).where(and(eq(identities.id, identityId), eq(identities.userId, userId), anotherWay)),
    // changes() is the row count of the DELETE just before: the event only when it removed the link.
    activityStatement(db, { userId, type: "identity_unlinked", sessionId: auth.sessionId, client: deps.client }, sql`changes() = 1`),
  ]);
  if (deleted.meta.changes === 1) return drainSoon(deps, userId);
  const [still] = await db.select({ id: identities.id }).from(identities).where(eq(identities.id, identityId));
  if (!still) throw new AuthError("not_found", "No such identity");
  throw new AuthError("conflict", "This is the last way to sign in to the account; add another first");
}
