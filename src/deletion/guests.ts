/**
 * Pruning dead guests, for the daily clean-up (src/maintenance). A guest has no password, address or
 * identity: its refresh token is its only way back (a guest with a passkey can sign in again, so it
 * is never dead). Once no session of it is live (signed out, revoked, or every session evicted),
 * nobody can reach the account again, yet its rows and its user object's storage would stay forever.
 *
 * A **dead guest** at `now`: `is_guest = 1`, no passkey, no identity, no live session, and its last
 * session ended (or, its session rows already purged, it last signed in, which for such a guest is
 * its creation) more than `retentionMs` before `now`. A guest with a live session is kept forever
 * (its tokens never expire, seed 000), however old its other sessions are.
 *
 * Each one is deleted by `deleteAccount` (every table of the user in one D1 batch, then the object's
 * `erase()`), with the whole condition above as the batch's guard: an upgrade, a new session or a
 * passkey that lands between the selection and the batch makes the batch delete nothing.
 *
 * @example
 * import { pruneDeadGuests } from "../deletion/guests";
 * const deleted = await pruneDeadGuests(deps, Date.now(), deps.config.guestRetentionMs); // ≤ 100
 */
import { sql } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { identities, passkeys, sessions, users } from "../db/schema";
import type { Deps } from "../http/deps";
import { log } from "../http/log";
import { liveSession } from "../sessions/statements";
import { deleteAccount } from ".";

/**
 * At most this many guests per run, oldest first: each costs one D1 batch and one object call, so a
 * run stays far within a Worker's subrequest limit (1,000); the rest go on the next day's run.
 */
export const GUESTS_PER_RUN = 100;

/** When a session row ended (ms): the earlier of its revocation and its expiry; null while neither. */
const sessionEnd = sql`COALESCE(MIN(${sessions.revokedAt}, ${sessions.expiresAt}), ${sessions.revokedAt}, ${sessions.expiresAt})`;

/**
 * The conditions on `g` (the `users` row, aliased) that make it a dead guest at `now` whose last
 * session ended before `before` (ms). The subqueries name their own tables, so the predicate reads
 * the same inside a statement on any of the user's tables.
 */
function deadGuestOf(now: number, before: number): SQL {
  return sql`g.is_guest = 1
    AND COALESCE(g.last_sign_in_at, g.created_at) < ${before}
    AND NOT EXISTS (SELECT 1 FROM ${sessions} WHERE ${sessions.userId} = g.id AND (${liveSession(now)} OR ${sessionEnd} IS NULL OR ${sessionEnd} >= ${before}))
    AND NOT EXISTS (SELECT 1 FROM ${passkeys} WHERE ${passkeys.userId} = g.id)
    AND NOT EXISTS (SELECT 1 FROM ${identities} WHERE ${identities.userId} = g.id)`;
}

/** The deletion batch's guard: user `userId` is still a dead guest at `now` (see above). */
export function stillDeadGuest(userId: string, now: number, before: number): SQL {
  return sql`EXISTS (SELECT 1 FROM ${users} AS g WHERE g.id = ${userId} AND ${deadGuestOf(now, before)})`;
}

/**
 * Up to `limit` dead guests at `now` (ms) whose last session ended more than `retentionMs` ago, the
 * longest-dead first: one read. It scans `users` (no index on `is_guest`; a schema change was not
 * worth it for one read a day), each guest's subqueries going through the user-id indexes.
 */
export async function deadGuests(db: D1Database, now: number, retentionMs: number, limit = GUESTS_PER_RUN): Promise<string[]> {
  const before = now - retentionMs;
  const lastEnded = sql`MAX(COALESCE(g.last_sign_in_at, g.created_at), COALESCE((SELECT MAX(${sessionEnd}) FROM ${sessions} WHERE ${sessions.userId} = g.id), 0))`;
  const rows = await drizzle(db).all<{ id: string }>(
    sql`SELECT g.id AS id FROM ${users} AS g WHERE ${deadGuestOf(now, before)} ORDER BY ${lastEnded}, g.id LIMIT ${limit}`,
  );
  return rows.map((r) => r.id);
}

/**
 * Deletes up to `limit` dead guests (see above) with `deleteAccount`, one after the other, each under
 * the guard `stillDeadGuest`. Returns how many were deleted. A failure on one guest is logged and
 * the run goes on with the next; that guest is tried again the next day.
 */
export async function pruneDeadGuests(deps: Deps, now: number, retentionMs: number, limit = GUESTS_PER_RUN): Promise<number> {
  const before = now - retentionMs;
  let deleted = 0;
  for (const userId of await deadGuests(deps.env.DB, now, retentionMs, limit)) {
    try {
      if (await deleteAccount(deps, userId, { reason: "retention", onlyIf: stillDeadGuest(userId, now, before) })) deleted++;
    } catch (error) {
      log("error", "maintenance.guest_prune_failed", { requestId: deps.requestId, userId, reason: error instanceof Error ? error.name : "unknown" });
    }
  }
  return deleted;
}
