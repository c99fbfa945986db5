/**
 * When a session's refresh token stops working (API.md §3): a full account's token lives
 * REFRESH_TOKEN_TTL_DAYS from its issue (each rotation renews it), but never past SESSION_MAX_DAYS
 * from the session's start; guests' tokens never expire. One rule for the sign-in that starts a
 * session (src/sessions/issue.ts) and the user's object that rotates it (src/sessions/user-object.ts).
 *
 * @example
 * refreshExpiry(config, "user", Date.now(), session.createdAt); // ms since the epoch, or null
 */
import type { Config } from "../config";
import type { Role } from "../types";

/** Milliseconds since the epoch, or null for a guest (no expiry). `now` and `sessionStart` in ms. */
export function refreshExpiry(config: Config, role: Role, now: number, sessionStart: number): number | null {
  if (role === "guest") return null;
  return Math.min(now + config.refreshTokenTtlSeconds * 1000, sessionStart + config.sessionMaxLifetimeMs);
}

/** Seconds left until `expiresAt` (ms), for `refresh_expires_in`; null when it never expires. */
export function secondsLeft(expiresAt: number | null, now: number): number | null {
  return expiresAt === null ? null : Math.max(0, Math.floor((expiresAt - now) / 1000));
}
