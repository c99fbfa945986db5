/**
 * When the user object may answer a refresh or a liveness check from its own storage, with no D1
 * trip (issue 27, slice 2; docs/edge-sessions.md "Built"), and what D1's copy of a session's expiry
 * must then say.
 *
 * - **Vouched**: a session the object holds is trusted without D1 when D1 vouched for it (live, the
 *   account enabled) at the object's current change epoch (`checked_epoch`, src/sessions/token-store.ts)
 *   and no change is pending: every writer of what D1 would answer calls `beginChange`/`endChange`
 *   around its write (src/sessions/profile-cache.ts), which moves the epoch, so any change since the
 *   mark sends the next call to D1 once.
 * - **D1's expiry is never earlier than the true one.** A rotation renews the refresh token's expiry
 *   (src/sessions/expiry.ts), but the object writes D1 only when the new expiry passes what D1 holds;
 *   it then writes `D1_EXPIRY_SLACK` (half the token's lifetime) more, capped at the session's
 *   maximum. So a user refreshing every 15 minutes writes D1 about once in 15 days per session instead
 *   of four times an hour, and every D1 reader that asks "is this session live?" (an authenticated
 *   request, a revocation, the purge) errs only towards "live" for a session whose real expiry passed
 *   less than the slack ago. The object's own answers (refresh, the sessions list) use the exact
 *   expiry; a session past it is ended in D1 at its next refresh.
 *
 * @example
 * const d1 = d1Expiry(config, expiresAt, session.created_at, now); // what to write, ms or null
 * if (mustWriteExpiry(session.d1_expires_at, expiresAt)) await touch(d1);
 */
import type { Config } from "../config";
import type { Assurance } from "../tokens";
import type { PublicUser } from "../types";
import { sessionAssurance } from "./assurance";
import type { SessionStateRow, TokenStore } from "./token-store";

/** How much later than the true expiry D1's copy may be written (ms): half the refresh token's lifetime. */
export const d1ExpirySlackMs = (config: Config): number => (config.refreshTokenTtlSeconds * 1000) / 2;

/**
 * The expiry to write to D1 for a session whose true expiry is `expiresAt` (ms; null: a guest's, none):
 * later by the slack, never past the session's maximum lifetime from `sessionStart`.
 */
export function d1Expiry(config: Config, expiresAt: number | null, sessionStart: number): number | null {
  if (expiresAt === null) return null;
  return Math.max(expiresAt, Math.min(expiresAt + d1ExpirySlackMs(config), sessionStart + config.sessionMaxLifetimeMs));
}

/** True when D1's copy of the expiry (`d1ExpiresAt`, null: unknown or none) is earlier than `expiresAt`. */
export function mustWriteExpiry(d1ExpiresAt: number | null, expiresAt: number | null): boolean {
  return expiresAt !== null && (d1ExpiresAt === null || d1ExpiresAt < expiresAt);
}

/** What the object's storage vouches for: the account's public fields and the session's assurance. */
export interface Vouched {
  user: PublicUser;
  assurance: Assurance;
}

/**
 * The session's vouched answer at change epoch `epoch`, or undefined when D1 must be asked (no mark,
 * a mark from another epoch, no profile kept at this epoch, or `pending`: a change under way).
 */
export function vouchedFor(store: TokenStore, session: SessionStateRow, epoch: number, pending: boolean): Vouched | undefined {
  if (pending || session.checked_epoch === null || session.checked_epoch !== epoch) return undefined;
  const user = store.profile(epoch);
  if (!user) return undefined;
  return { user, assurance: sessionAssurance({ aal: session.aal, amr: session.amr, authTime: session.auth_time, createdAt: session.created_at }) };
}
