/**
 * The `one_time_tokens` table (owned by src/one-time-tokens/): mailed single-use link tokens, stored
 * by SHA-256. `email` is the address the link was sent to (for change_email: the new address).
 * `platform_name`, `logo_url` and `return_url` are the brand of the mail that carried the link
 * (checked when the mail was asked for), so the page it opens shows the same brand and a way back
 * to the app; null means the service's own.
 */
import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { users } from "../accounts/schema";

export const oneTimeTokens = sqliteTable(
  "one_time_tokens",
  {
    tokenHash: text("token_hash").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    purpose: text("purpose", { enum: ["verify_email", "reset_password", "change_email", "delete_account"] }).notNull(),
    email: text("email").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    usedAt: integer("used_at"),
    platformName: text("platform_name"),
    logoUrl: text("logo_url"),
    returnUrl: text("return_url"),
  },
  (t) => [index("one_time_tokens_user_idx").on(t.userId, t.purpose)],
);
