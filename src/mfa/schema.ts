/**
 * The second factor's tables (owned by src/mfa/, API.md §15): TOTP factors with their secret
 * encrypted (AES-GCM under MFA_ENCRYPTION_KEY), recovery codes stored as keyed hashes, and the
 * pending sign-ins (`mfa_challenges`) an `mfaToken` names, stored by the token's SHA-256.
 *
 * @example
 * import { mfaFactors } from "./schema";
 * db.select().from(mfaFactors).where(and(eq(mfaFactors.userId, id), isNotNull(mfaFactors.activatedAt)));
 */
import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { users } from "../accounts/schema";

/** A TOTP factor: pending (activated_at null, expires_at set) until its first code, then active. */
export const mfaFactors = sqliteTable(
  "mfa_factors",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** Always "totp" for now (RFC 6238: SHA-1, 6 digits, 30 s). */
    type: text("type").notNull(),
    /** base64url(12-byte IV ‖ AES-GCM ciphertext of the 20-byte secret), under MFA_ENCRYPTION_KEY. */
    secretSealed: text("secret_sealed").notNull(),
    createdAt: integer("created_at").notNull(),
    /** A pending factor's end (ms); null once active. */
    expiresAt: integer("expires_at"),
    activatedAt: integer("activated_at"),
    /** The highest 30-second step whose code was accepted: each step's code is accepted once. */
    lastUsedStep: integer("last_used_step").notNull().default(0),
    lastUsedAt: integer("last_used_at"),
  },
  (t) => [
    index("mfa_factors_user_idx").on(t.userId),
    // At most one active factor per account: two concurrent activations cannot both land.
    uniqueIndex("mfa_factors_one_active").on(t.userId).where(sql`activated_at IS NOT NULL`),
  ],
);

/** Recovery codes: HMAC-SHA-256 under a key derived from MFA_ENCRYPTION_KEY; each single use. */
export const recoveryCodes = sqliteTable(
  "recovery_codes",
  {
    codeHash: text("code_hash").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull(),
    usedAt: integer("used_at"),
  },
  (t) => [index("recovery_codes_user_idx").on(t.userId)],
);

/**
 * A first factor proven, a second one awaited: the pending sign-in an `mfaToken` completes
 * (5 minutes, 5 tries, spent by its success).
 */
export const mfaChallenges = sqliteTable(
  "mfa_challenges",
  {
    /** SHA-256 (base64url) of the mfaToken. */
    tokenHash: text("token_hash").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** The first factor's sign-in method (password, code, id_token, oauth). */
    method: text("method").notNull(),
    /**
     * JSON of what else the pending sign-in carries, for its completion (null: nothing), e.g. a
     * guest to merge into the account when the sign-in completes.
     */
    options: text("options"),
    attempts: integer("attempts").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("mfa_challenges_user_idx").on(t.userId)],
);

export type MfaFactorRow = typeof mfaFactors.$inferSelect;
export type MfaChallengeRow = typeof mfaChallenges.$inferSelect;
