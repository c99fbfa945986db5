/**
 * Password recovery (API.md §3, §7). `forgotPassword` answers the same, in about the same time,
 * whether or not the account exists: the lookup, the token and the mail all happen after the answer.
 * `resetPassword` redeems the single-use token, sets the password, revokes every session and mails
 * the user a notice.
 *
 * @example
 * import { forgotPassword, resetPassword } from "./index";
 * await forgotPassword(deps, { email, baseUrl: "https://app.example.com" });
 * await resetPassword(deps, { email, token, newPassword });
 */
import { and, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { publish, userEvent } from "../events";
import { activityStatement } from "../activity";
import { sha256 } from "../crypto";
import type { Deps } from "../http/deps";
import { userSessions } from "../http/deps";
import { invalidRequest } from "../http/errors";
import { checkLogoUrl, cleanPlatformName, linkBase, pageLink } from "../mail/links";
import { sendMail } from "../mail";
import { resetMail, resetNoticeMail } from "../mail/templates";
import { createTokenStatements, findToken, spendStatement, tokenLiveFor, voidTokensStatement } from "../one-time-tokens";
import { hashOptions, hashPassword, passwordProblem } from "../accounts/passwords";
import { clearLoginAttempts, countRecoveryMail, tooManyRequests } from "../rate-limit";
import type { UserRow } from "../db/schema";
import { resetPasswordStatement, userByEmail, userByIdAndEmail, userMatches } from "../accounts/statements";
import { normalizeEmail } from "../accounts/users";
import { addressProvenStatements } from "../accounts/address-proven";
import { endChallengesStatement } from "../mfa/statements";

export interface ForgotInput {
  email: string;
  logoUrl?: string | undefined;
  platformName?: string | undefined;
  baseUrl?: string | undefined;
  clientAlias?: string | undefined;
}

export async function forgotPassword(deps: Deps, input: ForgotInput): Promise<void> {
  // Every check on the input comes first, so a 400 never depends on whether the account exists.
  const base = linkBase(deps.config, deps.origin, input);
  const logoUrl = checkLogoUrl(input.logoUrl);
  const platformName = cleanPlatformName(input.platformName, deps.config.platformName);
  const email = normalizeEmail(input.email);
  const perEmail = await countRecoveryMail(deps, email);
  if (!perEmail.allowed) throw tooManyRequests(perEmail.retryAfter, "Too many recovery mails for this address; try again later");

  const db = drizzle(deps.env.DB);
  // A function, not a started promise: the lookup must not begin before the answer is out.
  sendMail(deps, async () => {
    const user = await userByEmail(db, email);
    if (!user?.email || user.isGuest) return null;
    const { token, statements } = await createTokenStatements(db, {
      userId: user.id,
      email: user.email,
      purpose: "reset_password",
      ttlMs: deps.config.resetTokenTtlMs,
      // The reset page shows the brand of this mail, and links back to the app it was sent for.
      brand: {
        platformName: input.platformName === undefined ? null : platformName,
        logoUrl: logoUrl ?? null,
        returnUrl: input.baseUrl !== undefined || input.clientAlias !== undefined ? base : null,
      },
    });
    const [, stored] = await db.batch([...statements]);
    if (stored.meta.changes !== 1) return null; // the account was deleted meanwhile
    const link = pageLink(base, "/reset-password", { token, email: user.email });
    return resetMail({ to: user.email, platformName, logoUrl, link, minutes: Math.round(deps.config.resetTokenTtlMs / 60_000) });
  });
}

export interface ResetInput {
  email: string;
  token: string;
  newPassword: string;
}

/**
 * Order matters: every refusal (bad token, weak password) comes before the token is spent, and the
 * slow hash comes before the one atomic redemption, so a failure after it is unlikely and the
 * window between "token used" and "password set" is a single D1 write.
 */
export async function resetPassword(deps: Deps, input: ResetInput): Promise<UserRow> {
  const email = normalizeEmail(input.email);
  const policy = (identity: { email?: string | null; username?: string | null }) =>
    passwordProblem({ password: input.newPassword, minLength: deps.config.passwordMinLength, ...identity });
  // The identity-free rules first: they need no token, so they teach a token-less caller nothing.
  const generic = policy({});
  if (generic) throw invalidRequest("newPassword", generic);

  const db = drizzle(deps.env.DB);
  const invalid = invalidRequest("token", "is invalid or has expired");
  const pending = await findToken(db, input.token, "reset_password");
  if (!pending || normalizeEmail(pending.email) !== email) throw invalid;
  const owner = await userByIdAndEmail(db, pending.userId, email);
  if (!owner) throw invalid;
  const personal = policy({ email: owner.email, username: owner.username });
  if (personal) throw invalidRequest("newPassword", personal);

  const passwordHash = await hashPassword(input.newPassword, hashOptions(deps));
  // Sessions end before the password changes too, so a failure after the change (below) can never
  // leave a thief's session alive; the second round ends any session opened in between.
  const sessions = userSessions(deps, owner.id);
  await sessions.revokeSessions({ userId: owner.id, reason: "password_reset" });
  const now = Date.now();
  const tokenHash = await sha256(input.token);
  const tokenLive = tokenLiveFor(db, tokenHash, "reset_password", owner.id, now);
  const newlyVerified = userEvent(db, "user.updated", owner.id, {
    at: now,
    onlyIf: and(userMatches(db, owner.id, { passwordHash }), sql`u.email_verified_at = ${now}`),
  });
  // One batch: the password changes only while the token is live, and the token is spent with it.
  // Following the link proves the address: a first proof drops what a claimant attached (but the
  // new password and this token), before the statement that marks the address verified.
  const proof = { userId: owner.id, emailNormalized: email, now, client: deps.client, onlyIf: tokenLive, keep: { password: true, tokenHash } };
  const drops = addressProvenStatements(db, proof);
  const results = await db.batch([
    ...drops,
    resetPasswordStatement(db, { userId: owner.id, emailNormalized: email, passwordHash, now, onlyIf: tokenLive }),
    spendStatement(db, tokenHash, "reset_password", now),
    // The fresh salt makes the new hash this request's own: the event lands only with its change.
    activityStatement(
      db,
      { userId: owner.id, type: "password_reset", client: deps.client, at: now },
      userMatches(db, owner.id, { passwordHash }),
    ),
    // Following the mailed link verified an address that was not: the app hears `user.updated`.
    newlyVerified.statement,
    // A reset is the owner taking the account back: no link mailed before it (a change of address
    // to a thief's mailbox, above all) outlives it, as no session does (SECURITY.md, issue 22).
    voidTokensStatement(db, owner.id, now, userMatches(db, owner.id, { passwordHash })),
    // Every pending second-factor sign-in ends with the reset (API.md §15), as every session does.
    endChallengesStatement(db, owner.id, userMatches(db, owner.id, { passwordHash })),
  ]);
  const [changed, spent] = [results[drops.length] as UserRow[], results[drops.length + 1] as unknown[]];
  const user = changed[0];
  if (user && user.emailVerifiedAt === now) publish(deps, newlyVerified);
  if (!user || spent.length !== 1) throw invalid;
  await sessions.revokeSessions({ userId: owner.id, reason: "password_reset" });
  // The owner proved control of the mailbox: failed guesses by someone else must not lock them out.
  await clearLoginAttempts(deps, user.id);
  if (user.email) sendMail(deps, resetNoticeMail({ to: user.email, platformName: deps.config.platformName, reason: "reset" }));
  return user;
}
