/** The `sessions` table (owned by src/sessions/): the session rows of record. */
import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { users } from "../accounts/schema";

/**
 * Rows are inserted by a sign-in (src/sessions/issue.ts, one D1 batch in the Worker) and from then on
 * changed only by the user's Durable Object (src/sessions/user-object.ts), which holds the token state
 * once it has adopted the session (on the first call that names it: a refresh or an upgrade).
 */
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
    /**
     * SHA-256 (base64url) of the session's first refresh token, while the user's object has not
     * adopted the session; null from its first rotation on (the object then holds every hash).
     */
    firstRefreshTokenHash: text("first_refresh_token_hash"),
    /**
     * How strongly the session was proven (API.md §15): "aal1" or "aal2"; null (a session from
     * before the second factor) reads as "aal1".
     */
    aal: text("aal"),
    /** The methods that proved it, in order, space-separated (`password totp`); null: unknown. */
    amr: text("amr"),
    /** The latest sign-in or step-up (ms); null reads as `created_at`. */
    authTime: integer("auth_time"),
  },
  (t) => [index("sessions_user_idx").on(t.userId, t.revokedAt)],
);

export type SessionRow = typeof sessions.$inferSelect;
