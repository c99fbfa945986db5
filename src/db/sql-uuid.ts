/**
 * A random UUID made by SQLite for each row of an `INSERT … SELECT`, where one id per selected row
 * is needed and JavaScript cannot make them (session revocations over a set of rows, their events).
 *
 * @example
 * db.insert(activity).select(sql`SELECT ${sqlUuidV4}, ${sessions.userId}, … FROM ${sessions} WHERE …`);
 */
import { sql } from "drizzle-orm";

/** A random UUID, version 4 (RFC 9562 §5.4), as an SQL expression evaluated once per row. */
export const sqlUuidV4 = sql.raw(
  "lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || " +
    "substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))",
);
