/**
 * The D1 reads and writes of the per-user object (src/sessions/user-object.ts), as functions of a
 * drizzle handle: the live row of a session no object adopted yet, a guest's sessions to adopt before
 * an upgrade, the live sessions to revoke, a rotation's compare-and-set batched with the user's row,
 * a guest's sessions given an expiry, and a revocation batched with its activity events. The object
 * decides, in order, one operation at a time; these only read and write. Times are ms.
 *
 * @example
 * import { revokeInD1, touchSession } from "./object-statements";
 * const { row, user } = await touchSession(db, userId, sessionId, expiresAt, now);
 * if (!row && user && user.disabledAt !== null) await revokeInD1(db, [sessionId], "disabled", now, client);
 */
import { and, eq, inArray, isNotNull, isNull, sql } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { activity, sessions, users } from "../db/schema";
import { selectUserStatement, userMatches } from "../accounts/statements";
import type { ActivityType } from "../activity";
import { liveSession } from "./statements";
import type { ClientInfo } from "../types";

/**
 * The live D1 row of a session of this user not adopted yet (its first token's hash still set and,
 * when `tokenHash` is given, equal to it), or undefined. Reads only: the store is not touched.
 */
export async function unadoptedSession(db: DrizzleD1Database, userId: string, sessionId: string, now: number, tokenHash?: string) {
  const [found] = await db
    .select({ createdAt: sessions.createdAt, expiresAt: sessions.expiresAt, hash: sessions.firstRefreshTokenHash, isGuest: users.isGuest })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(
      and(
        eq(sessions.id, sessionId),
        eq(sessions.userId, userId),
        liveSession(now),
        tokenHash === undefined ? isNotNull(sessions.firstRefreshTokenHash) : eq(sessions.firstRefreshTokenHash, tokenHash),
      ),
    );
  return found;
}

/**
 * Every live session of this user with no expiry (a guest's) whose first token's hash is still set,
 * that is, not adopted by the object yet: id, start and that hash.
 */
export function unlimitedUnadoptedSessions(db: DrizzleD1Database, userId: string, now: number) {
  return db
    .select({ id: sessions.id, createdAt: sessions.createdAt, hash: sessions.firstRefreshTokenHash })
    .from(sessions)
    .where(and(eq(sessions.userId, userId), liveSession(now), isNull(sessions.expiresAt), isNotNull(sessions.firstRefreshTokenHash)));
}

/**
 * The ids of this user's live sessions, only among `sessionIds` when given. From D1, the record: it
 * also lists the sessions the object has not adopted yet. D1's expiry of an adopted session may be
 * later than its own (src/sessions/vouch.ts): the object leaves out those it holds expired.
 */
export function liveSessionIds(db: DrizzleD1Database, userId: string, now: number, sessionIds?: string[]) {
  return db
    .select({ id: sessions.id })
    .from(sessions)
    .where(and(eq(sessions.userId, userId), liveSession(now), sessionIds ? inArray(sessions.id, sessionIds) : undefined));
}

/**
 * The D1 write of record for a rotation: the session's expiry, as a compare-and-set on a live row of
 * an account that is not disabled, batched with the read of the user. Its last use and client are
 * the object's (it holds the session from now on): D1's copies are cleared (issue 27, slice 7). With `addMethod` (a step-up, API.md §15) that method joins the row's `amr` (once) and makes
 * it aal2 with `auth_time` now, in the same statement, when the row records an assurance (`aal` set:
 * a session from before slice 9, whose D1 row is of record for it); a row with none is left so. `row` (the session's assurance columns) is
 * undefined when nothing was updated; `user` is null when the account is gone.
 */
export async function touchSession(db: DrizzleD1Database, userId: string, sessionId: string, expiresAt: number | null, now: number, addMethod?: string) {
  const amr = sql`coalesce(${sessions.amr}, '')`;
  // Only a row that records its session's assurance (aal set: a session from before issue 27's slice 9) is
  // stepped up here; a row with none keeps none (the user's object holds it: src/sessions/vouch.ts `assuranceOf`).
  const recorded = sql`${sessions.aal} IS NOT NULL`;
  const stepUp = addMethod
    ? {
        aal: sql`CASE WHEN ${recorded} THEN 'aal2' END`,
        amr: sql`CASE WHEN ${recorded} THEN (CASE WHEN ' ' || ${amr} || ' ' LIKE ${`% ${addMethod} %`} THEN ${amr} ELSE trim(${amr} || ${` ${addMethod}`}) END) ELSE ${sessions.amr} END`,
        authTime: sql`CASE WHEN ${recorded} THEN ${now} ELSE ${sessions.authTime} END`,
      }
    : {};
  const [updated, userRows] = await db.batch([
    db
      .update(sessions)
      // The object holds the session now: it is of record for its last use and client, so D1 drops them (issue 27, slice 7).
      .set({ expiresAt, ipAddress: null, userAgent: null, firstRefreshTokenHash: null, ...stepUp })
      .where(and(eq(sessions.userId, userId), eq(sessions.id, sessionId), isNull(sessions.revokedAt), userMatches(db, userId, { enabled: true })))
      .returning({ aal: sessions.aal, amr: sessions.amr, authTime: sessions.authTime, createdAt: sessions.createdAt }),
    selectUserStatement(db, userId),
  ]);
  const [row] = updated;
  return { row, user: userRows[0] ?? null };
}

/**
 * This user's session rows live by D1 (not revoked, not past D1's expiry at `now`, ms), while the
 * account is not disabled, and whether the account is a guest's (null when there are none): the
 * sessions list's D1 half (src/sessions/session-list.ts).
 */
export async function sessionRowsOf(db: DrizzleD1Database, userId: string, now: number) {
  const rows = await db
    .select({ session: sessions, isGuest: users.isGuest })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(and(eq(sessions.userId, userId), isNull(users.disabledAt), liveSession(now)));
  return { sessions: rows.map((row) => row.session), isGuest: rows[0]?.isGuest ?? null };
}

/** Gives this user's sessions with no expiry that are not revoked (a guest's, now a full account's) the expiry `expiresAt`. */
export function expireUnlimitedSessions(db: DrizzleD1Database, userId: string, expiresAt: number) {
  return db
    .update(sessions)
    .set({ expiresAt })
    .where(and(eq(sessions.userId, userId), isNull(sessions.expiresAt), isNull(sessions.revokedAt)));
}

/**
 * Revokes the sessions of `userId` (those not revoked yet) with `reason` and records each revocation's event in
 * the same D1 batch. `sessionIds` must not be empty.
 */
export async function revokeInD1(db: DrizzleD1Database, userId: string, sessionIds: string[], reason: string, now: number, client: ClientInfo | null): Promise<void> {
  const [first, ...rest] = revocationStatements(db, userId, sessionIds, reason, now, client);
  await db.batch([first!, ...rest]);
}

/**
 * The statements of `revokeInD1`, for a batch the caller writes: the revocation, then each
 * session's event (`userId` undefined only for an owed entry kept before entries named their user:
 * the sessions are then found by id alone, a scan of `sessions`); every one only while `onlyIf` holds (the sign-in outbox's "not written yet",
 * src/sessions/outbox.ts), so a batch run twice records nothing twice.
 */
export function revocationStatements(db: DrizzleD1Database, userId: string | undefined, sessionIds: string[], reason: string, now: number, client: ClientInfo | null, onlyIf?: SQL) {
  return [
    db
      .update(sessions)
      .set({ revokedAt: now, revokedReason: reason })
      // The ids as one JSON parameter: a revoke-all may name MAX_SESSIONS_PER_USER (up to 100) of them, and D1 binds at most 100.
      .where(and(userId === undefined ? undefined : eq(sessions.userId, userId), inArray(sessions.id, sql`(SELECT value FROM json_each(${JSON.stringify(sessionIds)}))`), isNull(sessions.revokedAt), onlyIf)),
    ...sessionIds.map((id) => revocationEvent(db, userId, id, reason, client, now, onlyIf)),
  ];
}

/**
 * What a sign-in started in the object reads of D1 when its guard is not current (one batch): the
 * account's row, and its sessions live by D1 at `now` (ms), as the sessions list reads them.
 */
export async function signInRead(db: DrizzleD1Database, userId: string, now: number) {
  const [user, rows] = await db.batch([
    selectUserStatement(db, userId),
    db.select().from(sessions).where(and(eq(sessions.userId, userId), liveSession(now))),
  ]);
  return { user: user[0], sessions: rows };
}

/** The activity event a revocation reason records (API.md §9); none for an expiry. */
function revocationType(reason: string): ActivityType | null {
  if (reason === "expired") return null;
  if (reason === "signout") return "sign_out";
  if (reason === "reuse") return "refresh_reuse_detected";
  return "session_revoked";
}

/**
 * The event of one session's revocation, for the batch that revokes it: the user id comes from
 * the session row, and the event is written only if that batch's update revoked the session now
 * (with this reason), so an already ended session records nothing.
 */
function revocationEvent(db: DrizzleD1Database, userId: string | undefined, sessionId: string, reason: string, client: ClientInfo | null, now: number, onlyIf?: SQL) {
  const type = revocationType(reason);
  const source = sql`SELECT ${crypto.randomUUID()}, ${sessions.userId}, ${type}, NULL, ${now}, ${client?.ipAddress ?? null}, ${client?.userAgent ?? null}, ${sessions.id}
    FROM ${sessions} WHERE ${userId === undefined ? sql`` : sql`${sessions.userId} = ${userId} AND `}${sessions.id} = ${sessionId} AND ${sessions.revokedAt} = ${now} AND ${sessions.revokedReason} = ${reason}${onlyIf ? sql` AND ${onlyIf}` : sql``}`;
  return db.insert(activity).select(type ? source : sql`${source} AND 0`);
}
