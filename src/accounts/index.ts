/**
 * Accounts (API.md §2, §3): guests, registration, email verification, upgrade of a guest in place,
 * and password change; password login is ./login.ts (re-exported here). New sessions and token pairs come from the user's Durable
 * Object; this module owns the user rows.
 *
 * @example
 * import { login } from "./index";
 * const pair = await login(deps, { email: "a@example.com", password: "…" });
 */
import { changeUser } from "./change-user";
import { and, eq, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { activityStatement } from "../activity";
import { publish, userEvent } from "../events";
import { profilePicture } from "./avatars";
import { sha256 } from "../crypto";
import type { Deps } from "../http/deps";
import { userSessions } from "../http/deps";
import { AuthError, invalidRequest } from "../http/errors";
import type { LinkOptions } from "../mail/links";
import { verificationBase, verificationMailTo, verificationToken } from "./verification-mail";
import { sendMail } from "../mail";
import { resetNoticeMail } from "../mail/templates";
import { redeemToken } from "../one-time-tokens";
import { hashOptions, hashPassword, passwordProblem, verifyPassword } from "./passwords";
import { limitRecoveryMail } from "../rate-limit";
import { users } from "../db/schema";
import type { UserRow } from "../db/schema";
import { signIn } from "../sessions";
import type { Auth } from "../sessions";
import type { IssuedPair } from "../sessions/user-object";
import { userMatches } from "./statements";
import { checkPassword, requireSecondFactor } from "./reauthentication";
import { addressProvenStatements } from "./address-proven";
import { endPasswordChallengesStatement } from "../mfa/statements";
import { normalizeEmail, normalizeUsername } from "./users";
import { passwordHashIs } from "./password-column";


export { login } from "./login";
export type { LoginInput } from "./login";

function checkNewPassword(deps: Deps, password: string, field: string, identity: { email?: string | null; username?: string | null }) {
  const problem = passwordProblem({ password, minLength: deps.config.passwordMinLength, ...identity });
  if (problem) throw invalidRequest(field, problem);
}

/** Maps a UNIQUE violation on the identity columns to 409; anything else is rethrown. */
function conflictFrom(error: unknown): never {
  let text = "";
  for (let e: unknown = error; e instanceof Error; e = e.cause) text += ` ${e.message}`;
  if (text.includes("email_normalized")) throw new AuthError("conflict", "The email is already taken", [{ field: "email", message: "is already taken" }]);
  if (text.includes("username_normalized")) throw new AuthError("conflict", "The username is already taken", [{ field: "username", message: "is already taken" }]);
  throw error;
}

export async function guest(deps: Deps): Promise<IssuedPair> {
  const userId = crypto.randomUUID();
  const pair = await signIn(deps, { userId, role: "guest", method: "guest", createGuest: { createdAt: Date.now() } });
  if (!pair) throw new Error("guest session not issued");
  return pair;
}

export interface RegisterInput extends LinkOptions {
  email: string;
  password: string;
  username?: string | undefined;
  profilePicture?: string | File | undefined;
}

export async function register(
  deps: Deps,
  input: RegisterInput,
): Promise<{ user: UserRow; verificationRequired: boolean; pair: IssuedPair | null }> {
  const email = input.email.trim();
  const base = verificationBase(deps, input); // a 400 before anything is stored
  checkNewPassword(deps, input.password, "password", { email, username: input.username });
  const passwordHash = await hashPassword(input.password, hashOptions(deps));
  const id = crypto.randomUUID();
  const picture = await profilePicture(deps, input.profilePicture, id);
  const now = Date.now();
  const user: UserRow = {
    id,
    email,
    emailNormalized: normalizeEmail(email),
    username: input.username?.trim() ?? null,
    usernameNormalized: input.username ? normalizeUsername(input.username) : null,
    passwordHash,
    isGuest: false,
    emailVerifiedAt: null,
    profilePicture: picture,
    createdAt: now,
    updatedAt: now,
    disabledAt: null,
    lastSignInAt: null,
    mfaEnabled: false,
  };
  const db = drizzle(deps.env.DB);
  const { token, statements } = await verificationToken(deps, db, user.id, email, undefined, input);
  const created = userEvent(db, "user.created", user.id, { at: now });
  await db.batch([db.insert(users).values(user), created.statement, ...statements]).catch(conflictFrom);
  publish(deps, created);
  sendMail(deps, verificationMailTo(deps, email, token, base));
  const verificationRequired = deps.config.requireEmailVerification;
  const pair = verificationRequired
    ? null
    : await signIn(deps, { userId: user.id, method: "password" });
  return { user, verificationRequired, pair };
}

export async function verifyEmail(deps: Deps, token: string): Promise<UserRow> {
  const db = drizzle(deps.env.DB);
  const redeemed = await redeemToken(db, token, "verify_email");
  const invalid = invalidRequest("token", "is invalid or has expired");
  if (!redeemed) throw invalid;
  const now = Date.now();
  // The address must still be the user's: a token for an old address verifies nothing. A first proof
  // drops what a claimant attached, but the password this link was mailed for (./address-proven.ts).
  const emailNormalized = normalizeEmail(redeemed.email);
  const drops = addressProvenStatements(db, { userId: redeemed.userId, emailNormalized, now, client: deps.client, keep: { password: true, secondFactor: true } });
  const newlyVerified = sql`EXISTS (SELECT 1 FROM ${users} WHERE ${users.id} = ${redeemed.userId} AND ${users.emailVerifiedAt} = ${now})`;
  const updated = userEvent(db, "user.updated", redeemed.userId, { at: now, onlyIf: newlyVerified });
  const results = await changeUser(deps, redeemed.userId, () => db.batch([
    ...drops,
    db
      .update(users)
      .set({ emailVerifiedAt: sql`COALESCE(${users.emailVerifiedAt}, ${now})`, updatedAt: now })
      .where(and(eq(users.id, redeemed.userId), eq(users.emailNormalized, emailNormalized)))
      .returning(),
    activityStatement(db, { userId: redeemed.userId, type: "email_verified", client: deps.client, at: now }, newlyVerified),
    updated.statement,
  ]));
  const [user] = results[drops.length] as UserRow[];
  const event = results[drops.length + 2] as D1Result;
  if (!user) throw invalid;
  if (event.meta.changes === 1) publish(deps, updated);
  return user;
}

/** Same answer whether or not the account exists; the work happens after the answer. */
export async function resendVerification(deps: Deps, email: string, options: LinkOptions = {}): Promise<void> {
  const base = verificationBase(deps, options); // a 400 never depends on the account
  // Shares forgot-password's per-email count (API.md §6), counted for any address, known or not.
  await limitRecoveryMail(deps, normalizeEmail(email));
  const db = drizzle(deps.env.DB);
  // The lookup runs after the answer, so its time does not tell whether the account exists.
  sendMail(deps, async () => {
    const user = await db.select().from(users).where(eq(users.emailNormalized, normalizeEmail(email))).get();
    if (!user?.email || user.isGuest || user.emailVerifiedAt !== null) return null;
    const { token, statements } = await verificationToken(deps, db, user.id, user.email, undefined, options);
    const [, stored] = await db.batch([...statements]);
    return stored.meta.changes === 1 ? verificationMailTo(deps, user.email, token, base) : null; // gone meanwhile
  });
}

export interface UpgradeInput {
  email: string;
  username: string;
  password: string;
  profilePicture?: string | File | undefined;
}

/** Turns the calling guest into a full account in place: same id, new pair with role `user`. */
export async function upgrade(deps: Deps, auth: Auth, input: UpgradeInput): Promise<IssuedPair> {
  if (!auth.user.isGuest) throw new AuthError("forbidden", "Only a guest account can be upgraded");
  const email = input.email.trim();
  checkNewPassword(deps, input.password, "password", { email, username: input.username });
  const passwordHash = await hashPassword(input.password, hashOptions(deps));
  const picture = await profilePicture(deps, input.profilePicture, auth.userId);
  const now = Date.now();
  const db = drizzle(deps.env.DB);
  // The password hash has a fresh salt, so it tells this request's update from a concurrent one's:
  // only the upgrade that won voids and replaces the verification tokens.
  const won = userMatches(db, auth.userId, { passwordHash });
  const { token, statements } = await verificationToken(deps, db, auth.userId, email, won);
  const upgraded = userEvent(db, "user.upgraded", auth.userId, { at: now, onlyIf: won });
  const [updated] = await changeUser(deps, auth.userId, () => db
    .batch([
      db
        .update(users)
        .set({
          email,
          emailNormalized: normalizeEmail(email),
          username: input.username.trim(),
          usernameNormalized: normalizeUsername(input.username),
          passwordHash,
          isGuest: false,
          profilePicture: picture ?? auth.user.profilePicture,
          updatedAt: now,
        })
        .where(and(eq(users.id, auth.userId), eq(users.isGuest, true))),
      ...statements,
      activityStatement(db, { userId: auth.userId, type: "upgraded", sessionId: auth.sessionId, client: deps.client, at: now }, won),
      upgraded.statement,
    ])
    .catch(conflictFrom));
  if (updated.meta.changes !== 1) throw new AuthError("forbidden", "Only a guest account can be upgraded");
  publish(deps, upgraded);
  const outcome = await userSessions(deps, auth.userId).reissue({ userId: auth.userId, sessionId: auth.sessionId, role: "user", ...deps.client });
  if (!outcome.ok) throw new AuthError("invalid_token", "The session has ended");
  sendMail(deps, verificationMailTo(deps, email, token));
  return outcome.pair;
}

export interface ChangePasswordInput {
  currentPassword: string;
  newPassword: string;
  revokeOtherSessions?: boolean | undefined;
  /** Document 001 asks for the account's email too; when given it must be the caller's. */
  email?: string | undefined;
  /** A second factor's code, for an account with one (API.md §15 step-up). */
  code?: string | undefined;
  recoveryCode?: string | undefined;
}

export async function changePassword(deps: Deps, auth: Auth, input: ChangePasswordInput): Promise<UserRow> {
  const user = auth.user;
  if (user.isGuest || !user.passwordHash) throw new AuthError("forbidden", "A guest has no password; upgrade the account first");
  if (input.email !== undefined && normalizeEmail(input.email) !== user.emailNormalized) {
    throw new AuthError("forbidden", "The email is not the signed-in account's");
  }
  if (input.newPassword.normalize("NFKC") === input.currentPassword.normalize("NFKC")) {
    throw invalidRequest("newPassword", "must differ from the current password");
  }
  checkNewPassword(deps, input.newPassword, "newPassword", user);
  // Counted against the account like a login (§6): a stolen session cannot guess the password here.
  await checkPassword(deps, user, input.currentPassword, "The current password is incorrect");
  // API.md §15: with a second factor, the current password alone is not enough.
  if (user.mfaEnabled) await requireSecondFactor(deps, auth, input);
  const passwordHash = await hashPassword(input.newPassword, hashOptions(deps));
  const db = drizzle(deps.env.DB);
  const now = Date.now();
  const changed = sql`EXISTS (SELECT 1 FROM ${users} WHERE ${users.id} = ${user.id} AND ${passwordHashIs(users.passwordHash, passwordHash)})`;
  const currentHash = user.passwordHash;
  // Through changeUser: a sign-in started in the user's object checks the hash it kept (src/sessions/session-start.ts).
  const [[updated]] = await changeUser(deps, user.id, () => db.batch([
    db
      .update(users)
      .set({ passwordHash, updatedAt: now })
      .where(and(eq(users.id, user.id), passwordHashIs(users.passwordHash, currentHash)))
      .returning(),
    activityStatement(db, { userId: user.id, type: "password_changed", sessionId: auth.sessionId, client: deps.client, at: now }, changed),
    // A pending second-factor sign-in won with the old password ends (API.md §15).
    endPasswordChallengesStatement(db, user.id, changed),
  ]));
  if (!updated) throw new AuthError("conflict", "The password was changed meanwhile; try again");
  if (input.revokeOtherSessions) {
    await userSessions(deps, user.id).revokeSessions({ userId: user.id, keep: auth.sessionId, reason: "password_change", client: deps.client });
  }
  if (updated.email) {
    sendMail(deps, resetNoticeMail({ to: updated.email, platformName: deps.config.platformName, reason: "change" }));
  }
  return updated;
}
