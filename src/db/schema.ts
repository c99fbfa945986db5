/**
 * Every D1 table, gathered from the folder that owns it, for code that spans folders (the daily
 * clean-up, account deletion). drizzle-kit reads the folders' own schema.ts files
 * (drizzle.config.ts); STORAGE.md describes each table.
 *
 * @example
 * import { users, sessions } from "../db/schema";
 */
export * from "../accounts/schema";
export * from "../sessions/schema";
export * from "../one-time-tokens/schema";
export * from "../mail/schema";
export * from "../rate-limit/schema";
export * from "../activity/schema";
export * from "../identities/schema";
export * from "../passkeys/schema";
export * from "../email-codes/schema";
export * from "../mfa/schema";
export * from "../events/schema";
