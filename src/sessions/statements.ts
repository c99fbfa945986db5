/**
 * The `sessions` table's predicates and statements (src/sessions owns the table): what a live
 * session row is, written once, and the clean-up of ended ones for the daily cron.
 *
 * @example
 * import { liveSession } from "./statements";
 * db.select().from(sessions).where(and(eq(sessions.userId, userId), liveSession(Date.now())));
 */
import { and, eq, gt, isNotNull, isNull, lt, or } from "drizzle-orm";
import type { Placeholder } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { users } from "../accounts/schema";
import { sessions } from "./schema";

/**
 * A session row that still counts: not revoked, and not past its expiry at `now` (ms, or a
 * placeholder bound to it in a prepared query). Guests' rows have no expiry.
 */
export const liveSession = (now: number | Placeholder) =>
  and(isNull(sessions.revokedAt), or(isNull(sessions.expiresAt), gt(sessions.expiresAt, now)));

/** Deletes session rows that ended (revoked or expired) before `before` (ms). */
export function purgeEndedSessionsStatement(db: DrizzleD1Database, before: number) {
  return db
    .delete(sessions)
    .where(
      or(
        and(isNotNull(sessions.revokedAt), lt(sessions.revokedAt, before)),
        and(isNotNull(sessions.expiresAt), lt(sessions.expiresAt, before)),
      ),
    );
}

/**
 * The liveness read of an access token's session as a statement, for a D1 batch that reads what the
 * route needs in the same round trip (src/activity/list.ts): one row holding the session's user
 * (the account not disabled) while the session is live at `now` (ms), none otherwise. The same
 * conditions as the prepared read every authenticated request makes (src/sessions/index.ts).
 */
export function livenessStatement(db: DrizzleD1Database, claims: { userId: string; sessionId: string }, now: number) {
  return db
    .select({ id: users.id })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(and(eq(sessions.id, claims.sessionId), eq(sessions.userId, claims.userId), isNull(users.disabledAt), liveSession(now)));
}
