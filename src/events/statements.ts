/**
 * The outbox's statements (API.md §16): what other folders put in their own D1 batch, after the
 * change an event reports, so the change and its event commit together or not at all. Each is an
 * INSERT … SELECT that writes the event only while its guard holds when it runs (`changes() = 1`
 * after the changing statement, or the caller's compare-and-set condition), so a change refused or
 * lost to a race writes no event; and `data.user` is read from the `users` row as the batch left it.
 *
 * @example
 * import { userEvent, publish } from "../events";
 * const created = userEvent(db, "user.created", user.id, { onlyIf: sql`changes() = 1` });
 * await db.batch([db.insert(users).values(user), created.statement]);
 * publish(deps, created);
 */
import { sql } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { publicUserJson, usersAsU } from "../accounts/statements";
import { events } from "./schema";
import type { EventType } from "./settings";

/** An event statement and what its hand-off needs: the event's id and type. */
export interface PendingEvent {
  id: string;
  type: EventType;
  statement: ReturnType<typeof insertEvent>;
}

/** Why a user was deleted (API.md §16 `user.deleted`). */
export type DeletionReason = "self" | "link" | "admin" | "retention";

/** SQLite's `changes()`: the rows the batch's previous INSERT, UPDATE or DELETE touched, as a guard. */
export const previousChanged: SQL = sql`changes() > 0`;

/** `INSERT INTO events (sequence, id, type, data, created_at, queued_at) SELECT NULL, …` (every column, in order). */
function insertEvent(db: DrizzleD1Database, select: SQL) {
  return db.insert(events).select(select);
}

/**
 * `type` with `data: { user }`, the user `userId` as the batch left it, written only while `onlyIf`
 * holds (always when left out; the user row must exist either way). `at` is the event's time (ms).
 */
export function userEvent(db: DrizzleD1Database, type: Exclude<EventType, "user.deleted" | "user.merged">, userId: string, options: { onlyIf?: SQL; at?: number } = {}): PendingEvent {
  const id = crypto.randomUUID();
  const at = options.at ?? Date.now();
  const statement = insertEvent(
    db,
    sql`SELECT NULL, ${id}, ${type}, json_object('user', ${publicUserJson}), ${at}, NULL FROM ${usersAsU} WHERE u.id = ${userId} AND (${options.onlyIf ?? sql`1`})`,
  );
  return { id, type, statement };
}

/** `user.deleted` with `data: { user: { id }, reason }`, written only while `onlyIf` holds. */
export function deletedEvent(db: DrizzleD1Database, userId: string, reason: DeletionReason, onlyIf: SQL, at = Date.now()): PendingEvent {
  const id = crypto.randomUUID();
  const data = sql`json_object('user', json_object('id', ${userId}), 'reason', ${reason})`;
  return { id, type: "user.deleted", statement: insertEvent(db, sql`SELECT NULL, ${id}, 'user.deleted', ${data}, ${at}, NULL WHERE ${onlyIf}`) };
}

/**
 * `user.merged` with `data: { guest: { id }, user }` (the account the guest signed into, as the
 * batch left it), written only while `onlyIf` holds.
 */
export function mergedEvent(db: DrizzleD1Database, guestId: string, userId: string, onlyIf: SQL, at = Date.now()): PendingEvent {
  const id = crypto.randomUUID();
  const data = sql`json_object('guest', json_object('id', ${guestId}), 'user', ${publicUserJson})`;
  return {
    id,
    type: "user.merged",
    statement: insertEvent(db, sql`SELECT NULL, ${id}, 'user.merged', ${data}, ${at}, NULL FROM ${usersAsU} WHERE u.id = ${userId} AND (${onlyIf})`),
  };
}
