/**
 * A user's security activity (API.md §9) kept in that user's Durable Object (issue 27, slice 5;
 * docs/edge-sessions.md "Built: slice 5"): the table `activity` of the object's SQLite storage
 * (token-store migration v4), pruned to ACTIVITY_RETENTION_DAYS whenever it is written.
 *
 * Two ways in:
 * - **Written here**: the `sign_in` of a session the object starts (src/sessions/session-start.ts),
 *   in the same object transaction as the session, and since slice 8 that of a session the Worker
 *   wrote in D1, when the object holds it (src/sessions/hold.ts).
 * - **Staged in D1, drained here**: every other event is written in the D1 batch of the change it
 *   records (one transaction, as API.md §9 and §16 ask), into D1's `activity`, which is now a staging
 *   area. The object takes a user's staged rows whenever it reads D1 anyway (the read rides the batch
 *   of its outbox, src/sessions/outbox.ts, and the read of an activity list), keeps them marked
 *   `staged`, and then deletes them from D1 (`releaseStatement`) and clears the mark. A row is kept
 *   here before it leaves D1, so a failure between the two leaves it in both (kept once: ids are
 *   keys), never in neither.
 * - **Drained soon** (slice 8, docs/edge-sessions.md): so a staged row costs D1 bytes for seconds,
 *   not until the user's next sign-in, whatever may have staged rows tells the object (`drainSoon` of
 *   src/sessions/user-object.ts: each `endChange` of a change (a held sign-in's only when its batch
 *   staged a row), the object's own revocations, a counted failed
 *   sign-in, the Worker's changes outside `changeUser` through src/activity/drain-soon.ts, and an
 *   outbox batch that took rows), which marks it in KV and sets its alarm ACTIVITY_DRAIN_DELAY_MS
 *   ahead; the alarm drains with the same statements and the same order (src/activity/drain.ts
 *   `drainStaged`). Unmarked, with nothing kept staged, the alarm makes no D1 trip, so the paths that
 *   stage nothing (`me`, a refresh, a sign-in started here) gain none.
 *
 * Every reader goes through the object (`readActivity` of src/sessions/user-object.ts), which reads
 * the page of staged rows with the same cursor in the batch that drains, and merges it with its own:
 * a page shows every committed event however many are still staged. Kept rows past the retention
 * are dropped on every write and read, and by the object's alarm (set for the oldest row's end), so
 * an account that goes quiet keeps nothing past ACTIVITY_RETENTION_DAYS. Rows whose drain failed,
 * or staged before slice 8, stay staged until the user's next drain, or the daily purge. D1's rows of the old layout are staged rows by definition:
 * the first drain after the deploy moves them (no import step).
 *
 * @example
 * keepActivity(sql, [{ id, type: "sign_in", method: "password", created_at: now, ... }], { staged: false, before });
 * const rows = activityPage(sql, { limit: 51, before: cursor });
 */
import { and, asc, desc, eq, inArray, lt, or } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { activity } from "./schema";
import type { ActivityRow } from "./schema";

/** The object's table (migration v4 of src/sessions/token-store.ts). `staged` = 1: also still in D1. */
export const ACTIVITY_LOG_SCHEMA = `
  CREATE TABLE IF NOT EXISTS activity (
    id TEXT PRIMARY KEY, type TEXT NOT NULL, method TEXT, created_at INTEGER NOT NULL,
    ip_address TEXT, user_agent TEXT, session_id TEXT, staged INTEGER NOT NULL DEFAULT 0);
  CREATE INDEX IF NOT EXISTS activity_time ON activity (created_at, id);
  CREATE INDEX IF NOT EXISTS activity_staged ON activity (staged) WHERE staged = 1;
`;

/**
 * How many staged rows one D1 statement takes, or deletes: D1 binds at most 100 values a statement
 * (the delete binds the user id and each row's id). A backlog drains over several reads and batches.
 */
export const DRAIN_LIMIT = 90;

/**
 * How soon (ms) after a change that may have staged rows the user object's alarm drains them from D1
 * (issue 27, item 4: a staged row costs D1 bytes until it leaves; docs/edge-sessions.md "Slice 8").
 * Long enough for a burst of changes to share one drain, short enough that D1 keeps no staged row
 * of a user who does not come back.
 */
export const ACTIVITY_DRAIN_DELAY_MS = 5_000;

/** One event as the object keeps it (times ms since the epoch). */
export interface LoggedEvent {
  id: string;
  type: string;
  method: string | null;
  created_at: number;
  ip_address: string | null;
  user_agent: string | null;
  session_id: string | null;
}

/** D1's staged rows of `userId`, oldest first, at most DRAIN_LIMIT: for a batch the object sends anyway. */
export function stagedActivityStatement(db: DrizzleD1Database, userId: string) {
  return db.select().from(activity).where(eq(activity.userId, userId)).orderBy(asc(activity.createdAt), asc(activity.id)).limit(DRAIN_LIMIT);
}

/**
 * One page of `userId`'s staged rows as the list shows them: newest first by (created_at, id), older
 * than `before` when given, at most `limit`. A read merges it with the object's own page, so a page
 * is exact however many rows are still staged.
 */
export function stagedPageStatement(db: DrizzleD1Database, userId: string, limit: number, before?: { createdAt: number; id: string }) {
  const older = before
    ? or(lt(activity.createdAt, before.createdAt), and(eq(activity.createdAt, before.createdAt), lt(activity.id, before.id)))
    : undefined;
  return db.select().from(activity).where(and(eq(activity.userId, userId), older)).orderBy(desc(activity.createdAt), desc(activity.id)).limit(limit);
}

/** Deletes from D1 the staged rows `ids` of `userId`, once the object keeps them. `ids` must not be empty. */
export function releaseStatement(db: DrizzleD1Database, userId: string, ids: string[]) {
  return db.delete(activity).where(and(eq(activity.userId, userId), inArray(activity.id, ids)));
}

/** A D1 `activity` row (drizzle's, or the raw columns of a batch result) as the object keeps it. */
export function loggedEvent(row: ActivityRow | Record<string, unknown>): LoggedEvent {
  const r = row as Record<string, unknown>;
  return {
    id: String(r.id),
    type: String(r.type),
    method: (r.method as string | null) ?? null,
    created_at: Number(r.createdAt ?? r.created_at),
    ip_address: ((r.ipAddress ?? r.ip_address) as string | null) ?? null,
    user_agent: ((r.userAgent ?? r.user_agent) as string | null) ?? null,
    session_id: ((r.sessionId ?? r.session_id) as string | null) ?? null,
  };
}

/**
 * Keeps `events` (an id kept already is left as it is), marked staged when they are still in D1, and
 * drops every event created before `before` (ms: now minus ACTIVITY_RETENTION_DAYS). Synchronous:
 * call it inside the transaction of the change it belongs to.
 */
export function keepActivity(sql: SqlStorage, events: LoggedEvent[], options: { staged: boolean; before: number }): void {
  for (const e of events) {
    sql.exec(
      "INSERT OR IGNORE INTO activity (id, type, method, created_at, ip_address, user_agent, session_id, staged) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      e.id, e.type, e.method, e.created_at, e.ip_address, e.user_agent, e.session_id, options.staged ? 1 : 0,
    );
  }
  pruneActivity(sql, options.before);
}

/**
 * Drops the events created before `before` (ms), the retention's edge, once D1 no longer holds
 * them: a staged row past the edge waits for its release (never shown: pages start at the edge).
 */
export function pruneActivity(sql: SqlStorage, before: number): void {
  sql.exec("DELETE FROM activity WHERE created_at < ? AND staged = 0", before);
}

/** The creation time (ms) of the oldest event kept here and released from D1, or null when none is. */
export function oldestActivity(sql: SqlStorage): number | null {
  return sql.exec<{ at: number | null }>("SELECT MIN(created_at) AS at FROM activity WHERE staged = 0").one().at;
}

/** The ids of the events kept here that are still staged in D1, at most `limit`. */
export function stagedIds(sql: SqlStorage, limit = DRAIN_LIMIT): string[] {
  return sql.exec<{ id: string }>("SELECT id FROM activity WHERE staged = 1 LIMIT ?", limit).toArray().map((r) => r.id);
}

/** Clears the staged mark of `ids`: D1 no longer holds them. */
export function markReleased(sql: SqlStorage, ids: string[]): void {
  for (const id of ids) sql.exec("UPDATE activity SET staged = 0 WHERE id = ?", id);
}

/**
 * Up to `limit` events, newest first by (created_at, id), older than the cursor `before` when given,
 * and not before `since` (ms; the retention's edge, so an event past it is never shown).
 */
export function activityPage(sql: SqlStorage, input: { limit: number; before?: { createdAt: number; id: string } | undefined; since: number }): LoggedEvent[] {
  const c = input.before;
  const rows = c
    ? sql.exec(
        "SELECT id, type, method, created_at, ip_address, user_agent, session_id FROM activity WHERE created_at >= ? AND (created_at < ? OR (created_at = ? AND id < ?)) ORDER BY created_at DESC, id DESC LIMIT ?",
        input.since, c.createdAt, c.createdAt, c.id, input.limit,
      )
    : sql.exec(
        "SELECT id, type, method, created_at, ip_address, user_agent, session_id FROM activity WHERE created_at >= ? ORDER BY created_at DESC, id DESC LIMIT ?",
        input.since, input.limit,
      );
  return rows.toArray().map((r) => loggedEvent(r));
}
