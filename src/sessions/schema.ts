/** The `sessions` table (owned by src/sessions/): the session rows of record. */
import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { users } from "../accounts/schema";

/** Written only by the user's Durable Object (src/sessions/user-object.ts), which holds the token state. */
export const sessions = sqliteTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull(),
    lastUsedAt: integer("last_used_at").notNull(),
    /** Null for guests, whose refresh tokens do not expire. */
    expiresAt: integer("expires_at"),
    revokedAt: integer("revoked_at"),
    revokedReason: text("revoked_reason"),
    ipAddress: text("ip_address"),
    userAgent: text("user_agent"),
  },
  (t) => [index("sessions_user_idx").on(t.userId, t.revokedAt)],
);

export type SessionRow = typeof sessions.$inferSelect;
