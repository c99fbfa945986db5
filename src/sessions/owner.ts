/**
 * Whose session is this, when only its id is known (API.md §1: `DELETE /v1/auth/sessions/:id`
 * answers 403 for another user's live session and 404 for none; document 001's signout likewise).
 * Since migration 0007 (issue 27, slice 9) `sessions` is keyed by `(user_id, id)` with no index on
 * the id alone, so a session id is made to carry its user's first 8 hex digits (`newSessionId`) and
 * the owner is found in the key range of the users whose id begins with them: one user's few rows
 * at any scale (among 10 M users, one shares its 32-bit prefix with ~0.002 others on average).
 * Sessions made before the migration have random ids: the owners of those not revoked then are in
 * `session_owners`, written by the migration and, for a row with such an id written after it (by
 * the version before, still serving during a deploy or after a rollback, or from an outbox entry
 * kept before it), by the migration's trigger; purged once their session's row is gone
 * (`purgeSessionOwnersStatement`).
 *
 * @example
 * const sessionId = newSessionId(userId); // "1f0c2a9b-…": a UUID v4 whose first 8 digits are userId's
 * const owners = await liveSessionOwners(db, [sessionId], Date.now()); // Map { sessionId => userId }
 */
import { and, eq, inArray, notExists, sql } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { sessionOwners, sessions } from "./schema";
import { liveSession } from "./statements";

const HEX8 = /^[0-9a-f]{8}$/;

/**
 * A new session's id: a random UUID v4 (RFC 9562 §5.4; 90 random bits) whose first 8 hex digits
 * (the `time_low` field, free in a v4) are those of `userId`, so `liveSessionOwners` finds its user
 * through the key of `sessions`. A user id not beginning with 8 lower-case hex digits (none is made
 * so: they are `crypto.randomUUID()`) gets a wholly random id, whose owner migration 0007's trigger
 * then keeps in `session_owners`.
 */
export function newSessionId(userId: string): string {
  const id = crypto.randomUUID();
  const prefix = userId.slice(0, 8);
  return HEX8.test(prefix) ? prefix + id.slice(8) : id;
}

/**
 * The users of those of `sessionIds` that name a live session at `now` (ms), by session id; ids of
 * no live session are absent. One D1 round trip (a batch of two reads), both through a key: the
 * range of `sessions` of each id's prefix, and `session_owners` for sessions older than slice 9.
 * The ids go as one JSON parameter (`json_each`), whatever their number (D1 binds at most 100).
 */
export async function liveSessionOwners(db: DrizzleD1Database, sessionIds: readonly string[], now: number): Promise<Map<string, string>> {
  const owners = new Map<string, string>();
  if (sessionIds.length === 0) return owners;
  const ids = JSON.stringify(sessionIds);
  // Every user id beginning with an id's first 8 characters sorts after them and before them + "z" (ids are hex and dashes).
  const prefix = sql`substr(wanted.value, 1, 8)`;
  const [made, migrated] = await db.batch([
    db
      .select({ id: sessions.id, userId: sessions.userId })
      .from(sessions)
      .innerJoin(sql`json_each(${ids}) AS wanted`, sql`${sessions.userId} > ${prefix} AND ${sessions.userId} < ${prefix} || 'z' AND ${sessions.id} = wanted.value`)
      .where(liveSession(now)),
    db
      .select({ id: sessions.id, userId: sessions.userId })
      .from(sessionOwners)
      .innerJoin(sessions, and(eq(sessions.userId, sessionOwners.userId), eq(sessions.id, sessionOwners.id)))
      .where(and(inArray(sessionOwners.id, sql`(SELECT value FROM json_each(${ids}))`), liveSession(now))),
  ]);
  for (const row of [...made, ...migrated]) owners.set(row.id, row.userId);
  return owners;
}

/** Deletes the rows of `session_owners` whose session is no longer in `sessions` (the daily purge, after its sessions'). */
export function purgeSessionOwnersStatement(db: DrizzleD1Database) {
  return db
    .delete(sessionOwners)
    .where(notExists(db.select({ id: sessions.id }).from(sessions).where(and(eq(sessions.userId, sessionOwners.userId), eq(sessions.id, sessionOwners.id)))));
}
