/**
 * The `sessions` table's predicates and statements (src/sessions owns the table): what a live
 * session row is, written once, and the clean-up of ended ones for the daily cron.
 *
 * @example
 * import { liveSession } from "./statements";
 * db.select().from(sessions).where(and(eq(sessions.userId, userId), liveSession(Date.now())));
 */
import { and, gt, isNotNull, isNull, lt, or } from "drizzle-orm";
import type { Placeholder } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
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
