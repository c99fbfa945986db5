/**
 * A user's security activity (API.md §9): the event types, and the statement that records one,
 * which callers put in the same D1 batch as the change it records (never after the answer).
 *
 * @example
 * import { activityStatement } from "../activity";
 * await db.batch([db.update(users)..., activityStatement(db, { userId, type: "password_changed", client })]);
 */
import { lt } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { insertForUser } from "../db/insert-where";
import { activity } from "./schema";

/** Every event type API.md §9 lists. */
export const ACTIVITY_TYPES = [
  "sign_in",
  "sign_in_failed",
  "sign_out",
  "session_revoked",
  "refresh_reuse_detected",
  "password_changed",
  "password_reset",
  "email_verified",
  "email_change_requested",
  "email_changed",
  "upgraded",
  "passkey_added",
  "passkey_removed",
  "identity_linked",
  "identity_unlinked",
  "account_disabled",
  "account_enabled",
  // The second factor (API.md §15).
  "mfa_enabled",
  "mfa_disabled",
  "mfa_failed",
  "recovery_code_used",
  "recovery_codes_regenerated",
] as const;
export type ActivityType = (typeof ACTIVITY_TYPES)[number];

/** How a `sign_in` (or `sign_in_failed`) happened. */
export const SIGN_IN_METHODS = ["password", "code", "passkey", "id_token", "oauth", "guest"] as const;
export type SignInMethod = (typeof SIGN_IN_METHODS)[number];

export interface ActivityEvent {
  userId: string;
  type: ActivityType;
  /**
   * For sign_in and sign_in_failed: a SignInMethod, or for an aal2 session both methods joined by
   * "+" (`password+totp`, `code+recovery_code`); for mfa_failed the factor tried.
   */
  method?: string | undefined;
  sessionId?: string | null | undefined;
  /** Who caused it: the request's client, or null for the daily job or an operator. */
  client?: { ipAddress: string | null; userAgent: string | null } | null | undefined;
  /** Milliseconds since the epoch; now when left out. */
  at?: number | undefined;
}

/**
 * The INSERT that records `event`; with `onlyIf`, it takes effect only while that condition holds
 * (so a guarded change and its event land or fail together), and only while the user exists (so a
 * late event, such as a failed sign-in answered as the account is deleted, writes nothing).
 */
export function activityStatement(db: DrizzleD1Database, event: ActivityEvent, onlyIf?: SQL) {
  return insertForUser(
    db,
    activity,
    {
      id: crypto.randomUUID(),
      userId: event.userId,
      type: event.type,
      method: event.method ?? null,
      createdAt: event.at ?? Date.now(),
      ipAddress: event.client?.ipAddress ?? null,
      userAgent: event.client?.userAgent ?? null,
      sessionId: event.sessionId ?? null,
    },
    onlyIf,
  );
}

/** Drops events older than `before` (ms since the epoch): the daily clean-up's ACTIVITY_RETENTION_DAYS. */
export function purgeActivityStatement(db: DrizzleD1Database, before: number) {
  return db.delete(activity).where(lt(activity.createdAt, before));
}
