/**
 * For a Worker change that stages an activity event in D1 outside `changeUser` (issue 27, slice 8;
 * src/accounts/change-user.ts, whose `endChange` does the same): tells the user's object that D1
 * holds staged rows of the user, so its alarm drains them within ACTIVITY_DRAIN_DELAY_MS
 * (src/activity/object-log.ts) rather than at the user's next sign-in. After the answer
 * (`waitUntil`); a lost call only leaves the rows staged until the next drain.
 *
 * @example
 * await db.batch([insertPasskey, activityStatement(db, { userId, type: "passkey_added", ... })]);
 * drainSoon(deps, userId);
 */
import type { Deps } from "../http/deps";
import { userSessions } from "../http/deps";

/** Asks `userId`'s object to drain D1's staged activity rows soon (`UserSessions.drainSoon`), after the answer. */
export function drainSoon(deps: Pick<Deps, "env" | "waitUntil">, userId: string): void {
  deps.waitUntil(userSessions(deps, userId).drainSoon().catch(() => undefined));
}
