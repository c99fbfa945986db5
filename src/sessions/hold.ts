/**
 * Holding a session the Worker started in D1 (issue 27, slice 7; a new guest's since slice 8): a
 * sign-in on src/sessions/issue.ts's D1 path ends with `endChange(ticket, { …, hold })` on the user's object,
 * which takes the session into its token store here, inside its serial queue (src/sessions/user-object.ts).
 * The store then holds the first token's hash (D1's row has none), the session's start, true expiry
 * and D1's (later by the slack, src/sessions/vouch.ts), its client, its assurance (since slice 9;
 * D1's row has none: src/sessions/vouch.ts `heldAssurance`) and, when nothing else changed
 * since `beginChange` (the profile cache kept the registration's answer), the mark that lets the
 * first refresh answer with no D1 trip. Since slice 8 the sign-in's `sign_in` event is kept here too,
 * with the session (the batch writes none to D1's staging table, so nothing is left to drain).
 *
 * @example
 * holdSession({ store: held.store, profiles, clock, activity }, registration); // after profiles.end(...)
 */
import type { ActivityDrain } from "../activity/drain";
import type { ProfileCache } from "./profile-cache";
import type { SessionRegistration } from "./profile-object";
import type { Clock, TokenStore } from "./token-store";

/** What holding works with: the object's store (opened), change ledger, clock and activity. */
export interface HoldParts {
  store: TokenStore;
  profiles: ProfileCache;
  clock: Clock;
  /** Where the sign-in's `sign_in` event is kept (src/activity/drain.ts). */
  activity: Pick<ActivityDrain, "keep">;
}

/**
 * True when a guest's session (`register.hold.role` "guest": an existing guest's D1-path sign-in, a
 * passkey's, whose batch checked the account was a guest) reaches an object whose store records the
 * role "user": the account was upgraded after that batch (its reissue ran first in the serial queue,
 * src/sessions/rotation.ts). Such a session is not held (the sign-in answers 503 and its row is
 * ended, src/sessions/issue.ts `unheld`): held, it would never expire and would set the store's role
 * back to "guest", so the upgraded account's refreshes would issue guest tokens with no expiry. An
 * account never becomes a guest again, so a recorded "user" is final. `store`: the object's store if
 * it has one (null: a new object, nothing recorded).
 */
export function upgradedSince(store: TokenStore | null, register: SessionRegistration): boolean {
  return register.hold?.role === "guest" && store !== null && store.role() === "user";
}

/**
 * Adds the registered session (`register.hold` must be set) to the store with the sign-in's role
 * (a new guest's, or a full account's), keeps its `sign_in` event (slice 8: the batch stages none),
 * and marks it vouched at the current epoch when the cache kept the registration's answer
 * (`ProfileCache.end`: nothing else changed). Synchronous: one write of the object's storage, so the
 * session and its event are kept together or not at all.
 */
export function holdSession(parts: HoldParts, register: SessionRegistration): void {
  const { store, profiles, clock } = parts;
  const hold = register.hold!;
  // The store keeps the object's time (tests move it; in production the shift is 0); D1's rows keep the real one.
  const at = (ms: number | null) => (ms === null ? null : ms + clock.now() - Date.now());
  const d1ExpiresAt = at(hold.d1ExpiresAt);
  store.addSession(register.sessionId, at(hold.createdAt)!, at(hold.expiresAt), hold.tokenHash, { d1ExpiresAt, lastUsedAt: at(hold.createdAt)!, ...hold.client, assurance: hold.assurance });
  store.setRole(hold.role);
  // Real time, as every event's (the store's clock is for its sessions' lifetimes only).
  parts.activity.keep({ id: crypto.randomUUID(), type: "sign_in", method: hold.method, created_at: hold.createdAt, ip_address: hold.client.ipAddress, user_agent: hold.client.userAgent, session_id: register.sessionId });
  if (profiles.get(register.sessionId, Date.now())) store.markChecked(register.sessionId, profiles.epoch, { user: register.session.user, assurance: hold.assurance, d1ExpiresAt });
}
