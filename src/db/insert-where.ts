/**
 * An INSERT that takes effect only while a condition holds when it runs: `INSERT … SELECT <row>
 * WHERE <condition>`, for a guarded statement inside a D1 batch (check `meta.changes`). The values
 * follow the table's own column order and encoders, so no column list is written by hand; a column
 * the row leaves out gets NULL, not its SQL default.
 *
 * @example
 * const unchanged = userMatches(db, userId, { passwordHash: hash }); // src/accounts/statements.ts
 * const [inserted] = await db.batch([insertWhere(db, sessions, row, unchanged), ...]);
 * if (inserted.meta.changes !== 1) return null; // the condition no longer held
 *
 * `insertForUser` is the INSERT of a row that names a user (`user_id`, a foreign key to users): it
 * takes effect only while that user exists, so a request that raced the account's deletion writes
 * nothing instead of failing on the foreign key (a 500). Every table with a `user_id` is written
 * through it, or through a guard that implies the user exists (a session's, src/sessions/issue.ts).
 */
import { and, getTableColumns, sql } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import { users } from "../accounts/schema";

/** A plain INSERT when `onlyIf` is left out. */
export function insertWhere<T extends SQLiteTable>(db: DrizzleD1Database, table: T, row: T["$inferInsert"], onlyIf?: SQL) {
  if (!onlyIf) return db.insert(table).values(row);
  const values = Object.entries(getTableColumns(table)).map(([key, column]) =>
    sql.param((row as Record<string, unknown>)[key] ?? null, column),
  );
  return db.insert(table).select(sql`SELECT ${sql.join(values, sql`, `)} WHERE ${onlyIf}`);
}

/**
 * `insertWhere` for a row naming a user (`row.userId`): also requires that user to exist when the
 * statement runs. A row with a null `userId` (a discoverable sign-in's challenge) is guarded by
 * `onlyIf` alone. Check `meta.changes` where the row must land.
 */
export function insertForUser<T extends SQLiteTable>(db: DrizzleD1Database, table: T, row: T["$inferInsert"] & { userId: string | null }, onlyIf?: SQL) {
  if (row.userId === null) return insertWhere(db, table, row, onlyIf);
  const userExists = sql`EXISTS (SELECT 1 FROM ${users} WHERE ${users.id} = ${row.userId})`;
  return insertWhere(db, table, row, and(userExists, onlyIf));
}
