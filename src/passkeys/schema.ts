/**
 * Tables owned by src/passkeys/ (API.md §12): registered WebAuthn credentials and pending
 * challenges (5 minutes, spent by their first use).
 */
import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { users } from "../accounts/schema";
import { webauthnBytes } from "./bytes";
import { transportsColumn } from "./transports";
import { uuidColumn } from "../db/uuid-bytes";

export const passkeys = sqliteTable(
  "passkeys",
  {
    /**
     * The passkey's id (a UUID, API.md §12). Not a key: no index of its own (issue 27, item 4:
     * each index costs ~50 B a passkey); every query by id also names the user, found through
     * `passkeys_user_idx` among the user's ≤ MAX_PASSKEYS rows. Unique by its generation. Its 16
     * bytes in D1 (src/db/uuid-bytes.ts, issue 27 slice 11), or its text in rows from before.
     */
    id: uuidColumn("id").notNull(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /**
     * The credential id: its bytes (a BLOB; base64url text in rows from before issue 27's slice 10,
     * until rewritten: ./bytes.ts). Unique in each form; a registration also refuses the other form.
     */
    credentialId: webauthnBytes("credential_id").notNull().unique(),
    /** The COSE public key's bytes (a BLOB, or base64url text from before: ./bytes.ts). */
    publicKey: webauthnBytes("public_key").notNull(),
    signCount: integer("sign_count").notNull(),
    /**
     * JSON array of AuthenticatorTransport values, or null; a one-byte BLOB of bits in D1
     * (./transports.ts, issue 27 slice 11), or the JSON text in rows from before.
     */
    transports: transportsColumn("transports"),
    /**
     * The WebAuthn user handle's 32 bytes (a BLOB, or base64url text from before: ./bytes.ts):
     * random per user, the same on all its passkeys.
     */
    userHandle: webauthnBytes("user_handle").notNull(),
    backedUp: integer("backed_up", { mode: "boolean" }).notNull(),
    name: text("name").notNull(),
    createdAt: integer("created_at").notNull(),
    lastUsedAt: integer("last_used_at"),
  },
  // No index on the user handle: it is read only with the user's other passkeys (by user_id).
  (t) => [index("passkeys_user_idx").on(t.userId)],
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
