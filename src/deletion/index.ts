/**
 * Deleting an account (API.md §9), for the user itself (`DELETE /v1/auth/me`, or by a mailed link
 * to `/delete-account`) and for an administrator (§10). It spans every folder that keeps rows of a
 * user, so it lives here rather than in any one of them.
 *
 * Round trips, whatever the account holds (5 sessions, 10 passkeys, 3 identities, 100 events
 * alike): ONE D1 batch (one transaction) that deletes the user's activity, one-time tokens, email
 * code, passkeys, WebAuthn challenges, identities, sessions and failed-login counter, and last the
 * user row, RETURNING it (so no read comes first), then writes `user.deleted` (API.md §16, only if
 * the row was deleted), handed to the events queue after the answer; then one call to the user's Durable Object
 * (`erase`: its whole storage) and, for an uploaded picture, one R2 delete. With the session rows
 * gone the liveness read of every authenticated route fails at once, and the refresh path fails
 * too; the email and username are free as soon as the batch commits.
 *
 * @example
 * import { deleteAccount } from "../deletion";
 * const deleted = await deleteAccount(deps, userId, { reason: "admin" }); // UserRow | null (no such user)
 */
import { changeUser } from "../accounts/change-user";
import { and, eq, sql } from "drizzle-orm";
import { deletedEvent, previousChanged, publish } from "../events";
import type { DeletionReason } from "../events";
import type { SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { deleteUploadedAvatar } from "../accounts/avatars";
import { normalizeEmail } from "../accounts/users";
import { userIsDisabled } from "../accounts/statements";
import { users } from "../db/schema";
import type { UserRow } from "../db/schema";
import type { Deps } from "../http/deps";
import { userSessions } from "../http/deps";
import { AuthError, invalidRequest } from "../http/errors";
import { log } from "../http/log";
import { sendMail } from "../mail";
import { serviceBase } from "../mail/links";
import { deletedNoticeMail, deletionMail } from "../mail/lifecycle-templates";
import { createTokenStatements, findToken, redeemToken } from "../one-time-tokens";
import { limitRecoveryMail } from "../rate-limit";
import { requireReauthentication } from "../accounts/reauthentication";
import type { ReauthProof } from "../accounts/reauthentication";
import type { Auth } from "../sessions";
import { deletionStatements } from "./statements";

export { deletionStatements };

export interface DeleteAccountOptions {
  /** Why, for the `user.deleted` event written in the batch (API.md §16); `self` when left out. */
  reason?: DeletionReason;
  /**
   * Delete only while the account uses this address (normalised, as in `users.email_normalized`),
   * checked inside the batch: a change of address committed before it makes the deletion a no-op.
   */
  onlyIfEmailNormalized?: string;
  /**
   * Any further condition of the batch (`deletionStatements`' `onlyIf`), such as "still a dead
   * guest" for the daily clean-up (src/deletion/guests.ts): false when the batch runs, nothing is
   * deleted and the answer is null.
   */
  onlyIf?: SQL;
}

/**
 * Deletes the user and everything kept about it, as described above. Returns the deleted row, or
 * null when there was no such user (or it no longer uses `options.onlyIfEmailNormalized`: then
 * nothing was deleted). A full account with a verified address gets a notice mail.
 */
export async function deleteAccount(deps: Deps, userId: string, options: DeleteAccountOptions = {}): Promise<UserRow | null> {
  const db = drizzle(deps.env.DB);
  const email = options.onlyIfEmailNormalized;
  const stillUses =
    email === undefined ? undefined : sql`EXISTS (SELECT 1 FROM ${users} WHERE ${users.id} = ${userId} AND ${users.emailNormalized} = ${email})`;
  const guard = stillUses && options.onlyIf ? and(stillUses, options.onlyIf) : (stillUses ?? options.onlyIf);
  // `user.deleted` follows the user row's delete, and is written only if that delete happened.
  const event = deletedEvent(db, userId, options.reason ?? "self", previousChanged);
  // Through the user's object (src/accounts/change-user.ts): its cached `me` answers go before the
  // rows do, so a deleted account's token is refused at once, then `erase` clears its storage.
  const results = await changeUser(deps, userId, () => db.batch([...deletionStatements(db, userId, guard), event.statement]));
  const user = results[results.length - 2] as UserRow[];
  const deleted = user[0] ?? null;
  if (!deleted) return null;
  publish(deps, event);
  // After the batch: the rows of record are gone, so the object's state can no longer be used.
  await userSessions(deps, userId).erase();
  try {
    await deleteUploadedAvatar(deps, deleted.profilePicture, deleted.id);
  } catch (error) {
    // The account is gone either way; an orphaned picture is logged (not its URL) and left.
    log("error", "deletion.avatar_failed", { requestId: deps.requestId, reason: error instanceof Error ? error.name : "unknown" });
  }
  if (!deleted.isGuest && deleted.email && deleted.emailVerifiedAt !== null) {
    sendMail(deps, deletedNoticeMail({ to: deleted.email, platformName: deps.config.platformName }));
  }
  log("info", "account.deleted", { requestId: deps.requestId, userId });
  return deleted;
}

/** `DELETE /v1/auth/me`: re-authenticates (API.md §9), then deletes the caller's account. */
export async function deleteOwnAccount(deps: Deps, auth: Auth, proof: ReauthProof | string | undefined): Promise<void> {
  await requireReauthentication(deps, auth, proof);
  await deleteAccount(deps, auth.userId, { reason: "self" });
}

/**
 * `POST /v1/auth/request-deletion`: the same answer whether or not an account uses `email`; the
 * recovery mails' per-address limit applies to every address; the lookup, the token
 * (DELETION_TOKEN_TTL_MINUTES, purpose delete_account) and the mail happen after the answer.
 */
export async function requestDeletion(deps: Deps, email: string): Promise<void> {
  const normalized = normalizeEmail(email);
  await limitRecoveryMail(deps, normalized);
  const db = drizzle(deps.env.DB);
  sendMail(deps, async () => {
    const user = await db.select().from(users).where(eq(users.emailNormalized, normalized)).get();
    // A disabled account is deleted by an administrator only: no link that could not work.
    if (!user?.email || user.isGuest || user.disabledAt !== null) return null;
    const { token, statements } = await createTokenStatements(db, {
      userId: user.id,
      email: user.email,
      purpose: "delete_account",
      ttlMs: deps.config.deletionTokenTtlMs,
    });
    const [, stored] = await db.batch([...statements]);
    if (stored.meta.changes !== 1) return null; // deleted meanwhile
    const link = `${serviceBase(deps.config, deps.origin)}/delete-account?${new URLSearchParams({ token })}`;
    return deletionMail({ to: user.email, platformName: deps.config.platformName, link, minutes: Math.round(deps.config.deletionTokenTtlMs / 60_000) });
  });
}

/**
 * `POST /v1/auth/confirm-deletion`: spends the token (one compare-and-set, so two clicks delete
 * once), then deletes the account if it still uses the address the link was mailed to and is not
 * disabled, conditions of the deletion's own batch (so an address change or a disable landing in
 * between cannot be overtaken). 403 `account_disabled` for a disabled account (an administrator
 * deletes it: API.md §10; its block and address stay), before the token is spent; 400
 * `invalid_request` (field `token`) otherwise.
 */
export async function confirmDeletion(deps: Deps, token: string): Promise<void> {
  const db = drizzle(deps.env.DB);
  const invalid = invalidRequest("token", "is invalid or has expired");
  const disabled = () => new AuthError("account_disabled", "This account is disabled; only an administrator can delete it");
  const pending = await findToken(db, token, "delete_account");
  if (pending && (await userIsDisabled(db, pending.userId))) throw disabled();
  const redeemed = await redeemToken(db, token, "delete_account");
  if (!redeemed) throw invalid;
  const enabled = sql`EXISTS (SELECT 1 FROM ${users} WHERE ${users.id} = ${redeemed.userId} AND ${users.disabledAt} IS NULL)`;
  const deleted = await deleteAccount(deps, redeemed.userId, { reason: "link", onlyIfEmailNormalized: normalizeEmail(redeemed.email), onlyIf: enabled });
  if (deleted) return;
  if (await userIsDisabled(db, redeemed.userId)) throw disabled();
  throw invalid;
}

/** 404 `not_found` for an unknown user: for the admin API. */
export async function deleteAccountOrThrow(deps: Deps, userId: string): Promise<void> {
  if (!(await deleteAccount(deps, userId, { reason: "admin" }))) throw new AuthError("not_found", "No such user");
}
