/** The `sessions` table (owned by src/sessions/): the session rows of record. */
import { integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { users } from "../accounts/schema";

/**
 * Keyed by `(user_id, id)` and stored `WITHOUT ROWID` (migration 0007, issue 27 slice 9): a user's
 * sessions sit together in the table's own B-tree, so every per-user query is a range of the key and
 * no other index is kept (~117 B a session as slice 9 writes it instead of ~229: BENCHMARKS.md
 * "Far users (issue 27): after, slice 9"). A query by session id must name its
 * user too; the one read that knows only the id (whose session is it: 403 or 404) goes through
 * src/sessions/owner.ts, which the id's first 8 hex digits, shared with its user's, make a range.
 *
 * Rows are inserted by a sign-in (src/sessions/issue.ts, one D1 batch in the Worker, or for a sign-in
 * started in the user's object from that object's outbox: src/sessions/outbox.ts) and from then on
 * changed only by the user's Durable Object (src/sessions/user-object.ts), which holds the token state
 * once it has adopted the session (on the first call that names it: a refresh or an upgrade).
 */
export const sessions = sqliteTable(
  "sessions",
  {
    id: text("id").notNull(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull(),
    /** Null for every row written since slice 9: the user's object holds the last use from the session's start. */
    lastUsedAt: integer("last_used_at"),
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
     * before the second factor) reads as "aal1". The three assurance columns are null for every row
     * written since slice 9: the user's object holds the session's assurance (src/sessions/vouch.ts
     * `heldAssurance`).
     */
    aal: text("aal"),
    /** The methods that proved it, in order, space-separated (`password totp`); null: unknown. */
    amr: text("amr"),
    /** The latest sign-in or step-up (ms); null reads as `created_at`. */
    authTime: integer("auth_time"),
  },
  (t) => [primaryKey({ columns: [t.userId, t.id] })],
);

/**
 * The owners of the sessions not revoked when migration 0007 ran (their ids do not begin with their
 * user's digits), and of any row with such an id written after it (its trigger
 * `sessions_random_id_owner`: the version before, an outbox entry kept before the deploy):
 * src/sessions/owner.ts's fallback. The daily purge deletes a row once its session's row is gone.
 * `WITHOUT ROWID` (in the migration; drizzle's schema cannot say so), keyed by the session id.
 */
export const sessionOwners = sqliteTable("session_owners", {
  id: text("id").primaryKey(),
  userId: text("user_id").notNull(),
});

export type SessionRow = typeof sessions.$inferSelect;
