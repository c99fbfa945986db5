/**
 * Tables owned by src/passkeys/ (API.md §12): registered WebAuthn credentials and pending
 * challenges (5 minutes, spent by their first use).
 */
import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { users } from "../accounts/schema";

export const passkeys = sqliteTable(
  "passkeys",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** The credential id, base64url. */
    credentialId: text("credential_id").notNull().unique(),
    /** The COSE public key, base64url. */
    publicKey: text("public_key").notNull(),
    signCount: integer("sign_count").notNull(),
    /** JSON array of AuthenticatorTransport values, or null. */
    transports: text("transports"),
    /** The WebAuthn user handle (base64url): random per user, the same on all its passkeys. */
    userHandle: text("user_handle").notNull(),
    backedUp: integer("backed_up", { mode: "boolean" }).notNull(),
    name: text("name").notNull(),
    createdAt: integer("created_at").notNull(),
    lastUsedAt: integer("last_used_at"),
  },
  (t) => [index("passkeys_user_idx").on(t.userId), index("passkeys_user_handle_idx").on(t.userHandle)],
);

export const webauthnChallenges = sqliteTable("webauthn_challenges", {
  id: text("id").primaryKey(),
  kind: text("kind", { enum: ["registration", "authentication"] }).notNull(),
  /** The user registering; null for discoverable sign-in. */
  userId: text("user_id").references(() => users.id, { onDelete: "cascade" }),
  challenge: text("challenge").notNull(),
  createdAt: integer("created_at").notNull(),
  expiresAt: integer("expires_at").notNull(),
});

export type PasskeyRow = typeof passkeys.$inferSelect;
