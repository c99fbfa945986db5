/**
 * The `activity` table (owned by src/activity/): a user's security events (API.md §9), written in
 * the same D1 batch as the change each records, kept ACTIVITY_RETENTION_DAYS, read newest first by
 * (created_at, id) cursor.
 */
import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { users } from "../accounts/schema";

export const activity = sqliteTable(
  "activity",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** One of API.md §9's event types (src/activity/ lists them). */
    type: text("type").notNull(),
    /** For sign_in: password, code, passkey, id_token, oauth or guest; else null. */
    method: text("method"),
    createdAt: integer("created_at").notNull(),
    ipAddress: text("ip_address"),
    userAgent: text("user_agent"),
    sessionId: text("session_id"),
  },
  (t) => [index("activity_user_idx").on(t.userId, t.createdAt, t.id), index("activity_created_idx").on(t.createdAt)],
);

export type ActivityRow = typeof activity.$inferSelect;
