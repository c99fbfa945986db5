/**
 * The `email_codes` table (owned by src/email-codes/, API.md §11): at most one live code per
 * address (a new code replaces the row), stored hashed, with its wrong-try count.
 */
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const emailCodes = sqliteTable("email_codes", {
  /** The normalised address (NFKC, lower-cased). */
  emailNormalized: text("email_normalized").primaryKey(),
  codeHash: text("code_hash").notNull(),
  attempts: integer("attempts").notNull(),
  createdAt: integer("created_at").notNull(),
  expiresAt: integer("expires_at").notNull(),
});
