/**
 * Tables owned by src/identities/ (API.md §13): linked provider identities, the code flow's
 * server-side state (PKCE verifier, nonce, redirect_uri; 10 minutes, single use) and the one-time
 * codes handed to the app's redirect_uri (60 seconds, single use, stored by SHA-256).
 */
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { users } from "../accounts/schema";

export const identities = sqliteTable(
  "identities",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    provider: text("provider").notNull(),
    /** The provider's `sub` claim. */
    subject: text("subject").notNull(),
    email: text("email"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("identities_provider_subject_idx").on(t.provider, t.subject), index("identities_user_idx").on(t.userId)],
);

export const oauthStates = sqliteTable("oauth_states", {
  /** SHA-256 of the state value sent to the provider. */
  stateHash: text("state_hash").primaryKey(),
  provider: text("provider").notNull(),
  codeVerifier: text("code_verifier").notNull(),
  nonce: text("nonce").notNull(),
  redirectUri: text("redirect_uri").notNull(),
  /** The app's own state, returned to its redirect_uri unchanged. */
  clientState: text("client_state"),
  createdAt: integer("created_at").notNull(),
  expiresAt: integer("expires_at").notNull(),
});

export const oauthCodes = sqliteTable("oauth_codes", {
  /** SHA-256 of the one-time code given to the app. */
  codeHash: text("code_hash").primaryKey(),
  provider: text("provider").notNull(),
  subject: text("subject").notNull(),
  email: text("email"),
  emailVerified: integer("email_verified", { mode: "boolean" }).notNull(),
  createdAt: integer("created_at").notNull(),
  expiresAt: integer("expires_at").notNull(),
});

export type IdentityRow = typeof identities.$inferSelect;
