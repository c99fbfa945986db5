/**
 * The D1 schema, the store of record for users, sessions, one-time tokens, the dev mail outbox and
 * the per-account and per-email counters. `npm run db:generate` turns changes into a migration.
 *
 * Times are integers in milliseconds since the epoch. Emails and usernames keep the form the user
 * typed for display, and a normalised form (NFKC, lower-cased) that carries the UNIQUE constraint,
 * because SQLite's NOCASE folds ASCII only.
 *
 * @example
 * import { drizzle } from "drizzle-orm/d1";
 * import { users } from "./schema";
 * const row = await drizzle(env.DB).select().from(users).limit(1).get();
 */
import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const users = sqliteTable("users", {
  id: text("id").primaryKey(),
  email: text("email"),
  emailNormalized: text("email_normalized").unique(),
  username: text("username"),
  usernameNormalized: text("username_normalized").unique(),
  passwordHash: text("password_hash"),
  isGuest: integer("is_guest", { mode: "boolean" }).notNull(),
  emailVerifiedAt: integer("email_verified_at"),
  profilePicture: text("profile_picture"),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/** Written only by the user's Durable Object (src/user-sessions.ts), which holds the token state. */
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

export const oneTimeTokens = sqliteTable(
  "one_time_tokens",
  {
    tokenHash: text("token_hash").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    purpose: text("purpose", { enum: ["verify_email", "reset_password"] }).notNull(),
    email: text("email").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    usedAt: integer("used_at"),
  },
  (t) => [index("one_time_tokens_user_idx").on(t.userId, t.purpose)],
);

export const mailOutbox = sqliteTable(
  "mail_outbox",
  {
    id: text("id").primaryKey(),
    to: text("to").notNull(),
    subject: text("subject").notNull(),
    text: text("text").notNull(),
    html: text("html").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("mail_outbox_to_idx").on(t.to, t.createdAt)],
);

/**
 * Fixed-window counters keyed by account or by email hash, updated by one atomic upsert each.
 * Per-IP limits live in the RateLimiter Durable Object instead.
 */
export const counters = sqliteTable("counters", {
  key: text("key").primaryKey(),
  windowStart: integer("window_start").notNull(),
  count: integer("count").notNull().default(sql`0`),
});

export type UserRow = typeof users.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
