/**
 * The `users` table (owned by src/accounts/): one row per account, guest or full.
 *
 * Times are integers in milliseconds since the epoch. Emails and usernames keep the form the user
 * typed for display, and a normalised form (NFKC, lower-cased) that carries the UNIQUE constraint,
 * because SQLite's NOCASE folds ASCII only.
 */
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { passwordHashColumn } from "./password-column";

export const users = sqliteTable("users", {
  id: text("id").primaryKey(),
  email: text("email"),
  emailNormalized: text("email_normalized").unique(),
  username: text("username"),
  usernameNormalized: text("username_normalized").unique(),
  /** ./passwords.ts's hash string; stored as a BLOB (./password-column.ts, issue 27 slice 11), or text when written before. */
  passwordHash: passwordHashColumn("password_hash"),
  isGuest: integer("is_guest", { mode: "boolean" }).notNull(),
  emailVerifiedAt: integer("email_verified_at"),
  profilePicture: text("profile_picture"),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
  /** Set by an administrator (API.md §10): every sign-in method answers 403 while set. */
  disabledAt: integer("disabled_at"),
  /** The last successful sign-in by any method, for the admin API. */
  lastSignInAt: integer("last_sign_in_at"),
  /**
   * Whether the account has an active second factor (API.md §15): written by src/mfa in the batch
   * that activates or removes the factor, for `User.mfaEnabled` and the step-up rules.
   */
  mfaEnabled: integer("mfa_enabled", { mode: "boolean" }).notNull().default(false),
});

export type UserRow = typeof users.$inferSelect;
