/**
 * The `sessions` table's predicates and statements (src/sessions owns the table): what a live
 * session row is, written once, and the clean-up of ended ones for the daily cron.
 *
 * @example
 * import { liveSession } from "./statements";
 * db.select().from(sessions).where(and(eq(sessions.userId, userId), liveSession(Date.now())));
 */
import { and, eq, exists, gt, isNotNull, isNull, lt, ne, or, sql } from "drizzle-orm";
import type { Placeholder, SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { users } from "../accounts/schema";
import { activity } from "../activity/schema";
import { sqlUuidV4 } from "../db/sql-uuid";
import type { ClientInfo } from "../types";
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

/**
 * True in SQL while the caller's session is live and its account exists and is not disabled: the
 * guard of every write a request makes for a signed-in caller (a passkey, a challenge, a link, a
 * mailed token), so that a write landing after the account was deleted, disabled or handed to the
 * owner of its address does nothing, instead of failing on the users foreign key or outliving the
 * session that asked for it. The caller answers 401 `invalid_token` when it did nothing.
 */
export function sessionIsLive(db: DrizzleD1Database, claims: { userId: string; sessionId: string }, now = Date.now()): SQL {
  return exists(livenessStatement(db, claims, now));
}

/**
 * Ends every live session of `userId` but `keep`, inside a D1 batch and only while `onlyIf` holds
 * when it runs: first one `session_revoked` event per session (written while the set is still
 * live), then the revocation with `reason`. D1 alone: the user's object refuses a revoked row at its
 * next compare-and-set (src/sessions/user-object.ts), as for the session limit's evictions.
 */
export function revokeLiveSessionsStatements(
  db: DrizzleD1Database,
  input: { userId: string; reason: string; now: number; client: ClientInfo | null; onlyIf: SQL; keep?: string | undefined },
) {
  const targets = and(eq(sessions.userId, input.userId), liveSession(input.now), input.keep === undefined ? undefined : ne(sessions.id, input.keep));
  const events = db.insert(activity).select(
    sql`SELECT ${sqlUuidV4}, ${sessions.userId}, 'session_revoked', NULL, ${input.now}, ${input.client?.ipAddress ?? null}, ${input.client?.userAgent ?? null}, ${sessions.id}
      FROM ${sessions} WHERE ${targets} AND ${input.onlyIf}`,
  );
  const revocations = db.update(sessions).set({ revokedAt: input.now, revokedReason: input.reason }).where(and(targets, input.onlyIf));
  return [events, revocations] as const;
}
