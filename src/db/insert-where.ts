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
 */
import { getTableColumns, sql } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";

/** A plain INSERT when `onlyIf` is left out. */
export function insertWhere<T extends SQLiteTable>(db: DrizzleD1Database, table: T, row: T["$inferInsert"], onlyIf?: SQL) {
  if (!onlyIf) return db.insert(table).values(row);
  const values = Object.entries(getTableColumns(table)).map(([key, column]) =>
    sql.param((row as Record<string, unknown>)[key] ?? null, column),
  );
  return db.insert(table).select(sql`SELECT ${sql.join(values, sql`, `)} WHERE ${onlyIf}`);
}
