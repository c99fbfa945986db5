/**
 * A guest becomes a full account in place through a password-free proof of an address or an
 * identity (an email code, API.md §11; an ID token, §13): the same user id, `isGuest: false`, the
 * proven address adopted as verified, its sessions kept, and the calling session given a new pair
 * with role `user`.
 *
 * @example
 * const pair = await upgradeGuestInPlace(deps, auth, { email: "ada@example.com", extra: [linkStatement] });
 */
import { changeUser } from "./change-user";
import { and, eq } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { drizzle } from "drizzle-orm/d1";
import { activityStatement } from "../activity";
import { publish, userEvent } from "../events";
import type { Deps } from "../http/deps";
import { userSessions } from "../http/deps";
import { AuthError } from "../http/errors";
import type { Auth } from "../sessions";
import type { IssuedPair } from "../sessions/user-object";
import { users } from "./schema";
import { userMatches } from "./statements";
import { addressProvenStatements } from "./address-proven";
import { normalizeEmail } from "./users";

export interface UpgradeInPlaceInput {
  /** A proven address to adopt (verified), or null to keep none (an identity without an email). */
  email: string | null;
  /**
   * More statements for the same D1 batch (for example linking the identity), built with the
   * caller's `drizzle(env.DB)`; they run after the account's row is updated.
   */
  extra?: BatchItem<"sqlite">[];
  /** The identity whose verified email proves the address (kept by the proof: ./address-proven.ts). */
  identityId?: string;
}

/**
 * Upgrades the calling guest. 403 `forbidden` when the caller is not (or no longer) a guest;
 * 409 `conflict` when the address belongs to another account (nothing changes then).
 */
export async function upgradeGuestInPlace(deps: Deps, auth: Auth, input: UpgradeInPlaceInput): Promise<IssuedPair> {
  if (!auth.user.isGuest) throw new AuthError("forbidden", "Only a guest account can be upgraded");
  const db = drizzle(deps.env.DB);
  const now = Date.now();
  const email = input.email?.trim() ?? null;
  // Statements after the update take effect only if this request's update is the one that won.
  const won = userMatches(db, auth.userId, { isGuest: false, updatedAt: now });
  // Adopting a proven address is a proof like any other (./address-proven.ts); a guest never held
  // an address, so nothing of it changes hands and its sessions stay (API.md §11, §13).
  const keep = input.identityId === undefined ? {} : { identityId: input.identityId };
  const drops = email ? addressProvenStatements(db, { userId: auth.userId, emailNormalized: normalizeEmail(email), now, client: deps.client, keep }) : [];
  const upgraded = userEvent(db, "user.upgraded", auth.userId, { at: now, onlyIf: won });
  const statements: BatchItem<"sqlite">[] = [
    ...drops,
    db
      .update(users)
      .set({
        isGuest: false,
        updatedAt: now,
        ...(email ? { email, emailNormalized: normalizeEmail(email), emailVerifiedAt: now } : {}),
      })
      .where(and(eq(users.id, auth.userId), eq(users.isGuest, true))),
    activityStatement(db, { userId: auth.userId, type: "upgraded", sessionId: auth.sessionId, client: deps.client, at: now }, won),
    ...(input.extra ?? []),
    // Last, so `data.user` shows what the extra statements changed too.
    upgraded.statement,
  ];
  const results = await changeUser(deps, auth.userId, () => db.batch(statements as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]))
    .catch((error: unknown) => {
      let text = "";
      for (let e: unknown = error; e instanceof Error; e = e.cause) text += ` ${e.message}`;
      if (text.includes("email_normalized")) throw new AuthError("conflict", "The email belongs to another account", [{ field: "email", message: "is already taken" }]);
      throw error;
    });
  const updated = results[drops.length] as D1Result;
  if (updated.meta.changes !== 1) throw new AuthError("forbidden", "Only a guest account can be upgraded");
  publish(deps, upgraded);
  const outcome = await userSessions(deps, auth.userId).reissue({ userId: auth.userId, sessionId: auth.sessionId, role: "user", ...deps.client });
  if (!outcome.ok) throw new AuthError("invalid_token", "The session has ended");
  return outcome.pair;
}
