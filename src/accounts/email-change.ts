/**
 * Changing a full account's email address (API.md §9). The request re-authenticates the caller,
 * stores a single-use token (purpose `change_email`, its `email` the new address, CHANGE_EMAIL_TOKEN_TTL_HOURS)
 * that voids any earlier one, records `email_change_requested` in the same batch, mails a link to
 * `/confirm-email-change?token=` to the new address and a notice to the old one when that address
 * is verified. Both mails count toward the recovery mails' per-address limit of their address (3 an
 * hour by default), so a signed-in caller cannot flood someone else's mailbox, new or current (an
 * unverified current address gets no notice at all). Until the link is used the old address still
 * signs in, and sessions are never touched.
 *
 * Confirming is one D1 batch: the address changes (verified) only while the token is live, the
 * token is spent, and `email_changed` is recorded. When the address was taken meanwhile (UNIQUE
 * violation) the whole batch rolls back: 409, and the token stays unspent (docs/accounts.md: the loser of two
 * accounts racing for one address keeps a token that only works if the address frees up again).
 *
 * @example
 * import { confirmEmailChange, requestEmailChange } from "./email-change";
 * await requestEmailChange(deps, auth, { newEmail: "new@example.com", password });
 * const user = await confirmEmailChange(deps, token);
 */
import { changeUser } from "./change-user";
import { and, eq, exists, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { activityStatement } from "../activity";
import { drainSoon } from "../activity/drain-soon";
import { previousChanged, publish, userEvent } from "../events";
import { sha256 } from "../crypto";
import type { Deps } from "../http/deps";
import { AuthError, invalidRequest } from "../http/errors";
import { serviceBase } from "../mail/links";
import { sendMail } from "../mail";
import { changeEmailMail, emailChangeNoticeMail } from "../mail/lifecycle-templates";
import { createTokenStatements, findToken, live, spendStatement } from "../one-time-tokens";
import { oneTimeTokens } from "../one-time-tokens/schema";
import { limitRecoveryMail } from "../rate-limit";
import { sessionIsLive } from "../sessions/statements";
import { addressProvenStatements } from "./address-proven";
import type { Auth } from "../sessions";
import { requireReauthentication } from "./reauthentication";
import { users } from "./schema";
import type { UserRow } from "./schema";
import { normalizeEmail } from "./users";

const taken = () => new AuthError("conflict", "The email is already taken", [{ field: "newEmail", message: "is already taken" }]);

function isEmailConflict(error: unknown): boolean {
  let text = "";
  for (let e: unknown = error; e instanceof Error; e = e.cause) text += ` ${e.message}`;
  return text.includes("email_normalized");
}

export interface EmailChangeInput {
  newEmail: string;
  /** Required when the account has a password (API.md §9 re-authentication). */
  password?: string | undefined;
  /** A second factor's code, for an account with one (API.md §15 step-up). */
  code?: string | undefined;
  recoveryCode?: string | undefined;
}

/**
 * 403 for a guest (it upgrades instead), 400 for the account's own address, the errors of
 * `requireReauthentication`, 409 when another account uses the address, 429 `rate_limited` past the
 * recovery mails' per-address limit for the new address (RATE_LIMIT_RECOVERY_PER_EMAIL, shared).
 */
export async function requestEmailChange(deps: Deps, auth: Auth, input: EmailChangeInput): Promise<void> {
  const user = auth.user;
  if (user.isGuest) throw new AuthError("forbidden", "A guest has no email to change; upgrade the account first");
  const newEmail = input.newEmail.trim();
  const normalized = normalizeEmail(newEmail);
  if (normalized === user.emailNormalized) throw invalidRequest("newEmail", "is already the account's address");
  await requireReauthentication(deps, auth, input);

  const db = drizzle(deps.env.DB);
  const owner = await db.select({ id: users.id }).from(users).where(eq(users.emailNormalized, normalized)).get();
  if (owner) throw taken();
  // The new address gets a mail on every request: it shares the recovery mails' per-address count
  // (API.md §6), counted only once a mail is due, so a wrong password or a taken address costs none.
  await limitRecoveryMail(deps, normalized);
  // The notice goes only to an address its owner proved, and counts toward that address's limit too:
  // an account holding someone else's unproven address cannot mail them at will.
  const notice = noticeAddress(user);
  if (notice) await limitRecoveryMail(deps, user.emailNormalized!);
  const now = Date.now();
  // Written only while the caller's session is live: a request racing the account's deletion (or the
  // owner's proof of its address) stores no link (401).
  const { token, statements } = await createTokenStatements(db, {
    userId: user.id,
    email: newEmail,
    purpose: "change_email",
    ttlMs: deps.config.changeEmailTokenTtlMs,
    onlyIf: sessionIsLive(db, auth, now),
  });
  const [, stored] = await db.batch([...statements, activityStatement(db, { userId: user.id, type: "email_change_requested", sessionId: auth.sessionId, client: deps.client, at: now }, sessionIsLive(db, auth, now))]);
  if (stored.meta.changes !== 1) throw new AuthError("invalid_token", "The session has ended");
  drainSoon(deps, user.id);

  const platformName = deps.config.platformName;
  const link = `${serviceBase(deps.config, deps.origin)}/confirm-email-change?${new URLSearchParams({ token })}`;
  sendMail(deps, changeEmailMail({ to: newEmail, platformName, link, hours: Math.round(deps.config.changeEmailTokenTtlMs / 3_600_000) }));
  if (notice) sendMail(deps, emailChangeNoticeMail({ to: notice, platformName, newEmail, stage: "requested" }));
}

/** Where a notice about the account's address goes: its current address, only once verified. */
const noticeAddress = (user: Pick<UserRow, "email" | "emailVerifiedAt">) => (user.email && user.emailVerifiedAt !== null ? user.email : null);

/**
 * Redeems a change_email token: 200 with the user, its new address verified. 400 `invalid_request`
 * (field `token`) for an unknown, spent or expired token; 409 when the address is taken.
 */
export async function confirmEmailChange(deps: Deps, token: string): Promise<UserRow> {
  const db = drizzle(deps.env.DB);
  const invalid = invalidRequest("token", "is invalid or has expired");
  const pending = await findToken(db, token, "change_email");
  if (!pending) throw invalid;
  const previous = await db.select({ email: users.email, emailVerifiedAt: users.emailVerifiedAt }).from(users).where(eq(users.id, pending.userId)).get();
  if (!previous) throw invalid;

  const now = Date.now();
  const tokenHash = await sha256(token);
  const tokenLive = exists(db.select({ one: sql`1` }).from(oneTimeTokens).where(and(live(tokenHash, "change_email", now), eq(oneTimeTokens.userId, pending.userId))));
  // The new address is proven by following the link (./address-proven.ts). The account never held
  // it unproven, so nothing changes hands here: the requester's password, passkeys and sessions stay.
  const proof = { userId: pending.userId, emailNormalized: normalizeEmail(pending.email), now, client: deps.client, onlyIf: tokenLive, keep: { password: true, secondFactor: true, tokenHash } };
  const drops = addressProvenStatements(db, proof);
  // Right after the users update, so `previousChanged` sees that statement's changes.
  const event = userEvent(db, "user.updated", pending.userId, { at: now, onlyIf: previousChanged });
  let results;
  try {
    results = await changeUser(deps, pending.userId, () => db.batch([
      ...drops,
      db
        .update(users)
        .set({ email: pending.email, emailNormalized: normalizeEmail(pending.email), emailVerifiedAt: now, updatedAt: now })
        .where(and(eq(users.id, pending.userId), tokenLive))
        .returning(),
      event.statement,
      activityStatement(db, { userId: pending.userId, type: "email_changed", client: deps.client, at: now }, tokenLive),
      spendStatement(db, tokenHash, "change_email", now),
    ]));
  } catch (error) {
    // The batch is one transaction: nothing of it was written, the token included.
    if (isEmailConflict(error)) throw taken();
    throw error;
  }
  const [[user], , , spent] = results.slice(drops.length) as [UserRow[], unknown, unknown, unknown[]];
  if (!user || spent.length !== 1) throw invalid;
  publish(deps, event);
  const notice = noticeAddress(previous);
  if (notice && normalizeEmail(notice) !== normalizeEmail(pending.email)) {
    sendMail(deps, emailChangeNoticeMail({ to: notice, platformName: deps.config.platformName, newEmail: pending.email, stage: "changed" }));
  }
  return user;
}
