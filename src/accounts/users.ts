/**
 * Identity rules shared by every account operation (API.md §2): how emails and usernames are
 * normalised and compared, and the public shape of a user.
 *
 * @example
 * import { normalizeEmail, publicUser } from "./users";
 * normalizeEmail("  Alice@Example.COM "); // "alice@example.com"
 */
import type { UserRow } from "../db/schema";
import type { PublicUser } from "../types";

export const USERNAME_PATTERN = /^[A-Za-z0-9_.-]{3,30}$/;

/** Trimmed, NFKC, lower-cased: the form that carries the UNIQUE constraint. */
export const normalizeEmail = (email: string) => email.trim().normalize("NFKC").toLowerCase();
export const normalizeUsername = (username: string) => username.trim().normalize("NFKC").toLowerCase();

export type { PublicUser } from "../types";

export function publicUser(row: UserRow): PublicUser {
  return {
    id: row.id,
    email: row.email,
    username: row.username,
    isGuest: row.isGuest,
    emailVerified: row.emailVerifiedAt !== null,
    profilePicture: row.profilePicture,
    createdAt: new Date(row.createdAt).toISOString(),
    // A row read before the column existed (a sealed pair's) has none: no factor then.
    mfaEnabled: row.mfaEnabled === true,
  };
}

/** "alice@example.com" → "a***@example.com", for logs. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf("@");
  return at > 0 ? `${email[0]}***${email.slice(at)}` : "***";
}
