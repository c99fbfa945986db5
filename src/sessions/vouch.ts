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
 *   it then writes `d1ExpirySlackMs` (half the token's lifetime) more, capped at the session's
 *   maximum. So a user refreshing every hour writes D1 about once in 15 days per session instead of
 *   at every rotation, and every D1 reader that asks "is this session live?" (an authenticated
 *   request, a revocation, the purge) errs only towards "live" for a session whose real expiry passed
 *   less than the slack ago. The object's own answers (refresh, the sessions list) use the exact
 *   expiry; a session past it is ended in D1 at its next refresh.
 *
 * `Vouching` applies these for the user object (src/sessions/user-object.ts): `confirm` is what a
 * rotation asks of D1 (nothing, a read, or the touch), `vouched` what a check may answer from storage.
 *
 * @example
 * const vouching = new Vouching({ env: () => this.env, store: () => this.#store, profiles: this.profiles, revoke });
 * const touched = await vouching.confirm(userId, session, expiresAt, client, now, adopted); // Touched | null
 */
import { drizzle } from "drizzle-orm/d1";
import { publicUser } from "../accounts/users";
import { loadConfig } from "../config";
import type { Config } from "../config";
import type { Assurance } from "../tokens";
import type { ClientInfo, PublicUser } from "../types";
import { sessionAssurance, withMethod } from "./assurance";
import { liveSessionRow } from "./liveness";
import { touchSession } from "./object-statements";
import type { Touched } from "./pair-outcome";
import type { ProfileCache, ReadTicket } from "./profile-cache";
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

/** What D1 showed of a session and its account, to answer with and to mark the session vouched. */
type Seen = Touched & { d1ExpiresAt: number | null };

/** What `Vouching` works with: the object's env (read at each use: tests swap it), store, cache and revocation. */
export interface VouchingParts {
  env: () => Env;
  store: () => TokenStore;
  profiles: ProfileCache;
  revoke: (userId: string, sessionIds: string[], reason: string, now: number, client: ClientInfo) => Promise<void>;
}

/** The user object's rotation-time dealings with D1 under the rules above. Runs inside the object's serial queue. */
export class Vouching {
  constructor(private readonly parts: VouchingParts) {}

  get #config(): Config {
    return loadConfig(this.parts.env());
  }

  /** What the store vouches for the held session, with no D1 trip, or undefined. */
  vouched(session: SessionStateRow): Touched | undefined {
    const { profiles } = this.parts;
    return vouchedFor(this.parts.store(), session, profiles.epoch, profiles.pendingAt(Date.now()));
  }

  /**
   * What a rotation needs of D1, in the fewest trips: none when the store vouches for the session and
   * D1's expiry need not move; the liveness read when it does not vouch; the touch (a write) when D1's
   * row must change: its first token's hash cleared at adoption (`adopted`), or its expiry moved.
   * `expiresAt` is the rotation's new true expiry (ms). Null when the session is not live in D1 or the
   * account is disabled.
   */
  async confirm(userId: string, session: SessionStateRow, expiresAt: number | null, client: ClientInfo, now: number, adopted: boolean): Promise<Touched | null> {
    if (adopted || mustWriteExpiry(session.d1_expires_at, expiresAt)) return this.touch(userId, session.id, expiresAt, session.created_at, client, now);
    const vouched = this.vouched(session);
    if (vouched) return vouched;
    const ticket = this.parts.profiles.ticket(Date.now());
    const row = await liveSessionRow(this.parts.env().DB, { sessionId: session.id, userId, now });
    // Not live: the touch's compare-and-set answers, and ends the session of a disabled account.
    if (!row) return this.touch(userId, session.id, expiresAt, session.created_at, client, now);
    const seen = { user: publicUser(row.user), assurance: assuranceOf(row, session), d1ExpiresAt: row.expiresAt };
    this.#markIfCurrent(ticket, session.id, seen);
    return seen;
  }

  /**
   * The D1 write of a rotation (`touchSession`: D1's expiry, its copies of last use and client cleared, `expiresAt` made
   * later by the slack from the session's start `sessionStart`, as a compare-and-set; with
   * `addMethod`, a step-up); it returns the account and the session's assurance (API.md §15) for the
   * new access token, and marks the session vouched when no change overlapped. Null when the row is
   * gone or the account disabled; a disabled account's session is ended here too, in case the
   * revocation that follows a disable (src/admin) did not happen. A step-up is written where the
   * session's assurance is of record (`assuranceOf`): D1's row when it records one, else the store.
   */
  async touch(userId: string, sessionId: string, expiresAt: number | null, sessionStart: number, client: ClientInfo, now: number, addMethod?: string): Promise<Touched | null> {
    const d1ExpiresAt = d1Expiry(this.#config, expiresAt, sessionStart);
    const store = this.parts.store();
    const held = store.session(sessionId);
    // Not a change of what checks answer (it only lengthens the session and, for a step-up, raises its
    // assurance, which `check` does not show), so other sessions' marks stay: it reads of record.
    const ticket = this.parts.profiles.ticket(Date.now());
    // A step-up is written to D1's row when it records the session's assurance (from before slice 9), else kept here.
    const { row, user } = await touchSession(drizzle(this.parts.env().DB), userId, sessionId, d1ExpiresAt, now, addMethod);
    if (row && user) {
      const recorded = assuranceOf(row, held);
      const assurance = addMethod && row.aal === null ? withMethod(recorded, addMethod, now) : recorded;
      if (assurance !== recorded) store.setAssurance(sessionId, assurance);
      const seen = { user: publicUser(user), assurance, d1ExpiresAt };
      this.#markIfCurrent(ticket, sessionId, seen);
      return seen;
    }
    if (user && user.disabledAt !== null) await this.parts.revoke(userId, [sessionId], "disabled", now, client);
    return null;
  }

  /** Marks the session vouched at the ticket's epoch if no change was pending or happened since the ticket (a D1 read began). */
  #markIfCurrent(ticket: ReadTicket, sessionId: string, seen: Seen): void {
    const { profiles } = this.parts;
    if (profiles.current(ticket, Date.now())) this.parts.store().markChecked(sessionId, ticket.epoch, seen);
  }
}

/**
 * The assurance the store holds for a session (API.md §15), or undefined when it holds none: of
 * record when D1's row records none (`assuranceOf`), else a vouched mark's copy of D1's.
 */
export function heldAssurance(session: SessionStateRow): Assurance | undefined {
  if (session.aal === null) return undefined;
  return sessionAssurance({ aal: session.aal, amr: session.amr, authTime: session.auth_time, createdAt: session.created_at });
}

/**
 * A session's assurance of record, from its D1 row (`row`, as a D1 read or touch returned it) and what
 * the store holds (`held`). A row that records one (`aal` set: a session from before issue 27's slice 9)
 * is of record, and its step-ups are written there (src/sessions/object-statements.ts `touchSession`):
 * the store's copy may be older than it, for the code before slice 9 updated the copy only with a
 * current mark (a step-up overlapped by a change left it behind, its epoch stale). A row with none (a
 * session held from its sign-in since slice 9, or one from before the second factor, aal null) has
 * its assurance in the store (`setAssurance`), or, when the store holds none, the row's defaults.
 */
export function assuranceOf(row: { aal: string | null; amr: string | null; authTime: number | null; createdAt: number }, held: SessionStateRow | undefined): Assurance {
  if (row.aal !== null) return sessionAssurance(row);
  return (held && heldAssurance(held)) ?? sessionAssurance(row);
}

/**
 * The session's vouched answer at change epoch `epoch`, or undefined when D1 must be asked (no mark,
 * a mark from another epoch, no profile kept at this epoch, or `pending`: a change under way).
 */
export function vouchedFor(store: TokenStore, session: SessionStateRow, epoch: number, pending: boolean): Vouched | undefined {
  if (pending || session.checked_epoch === null || session.checked_epoch !== epoch) return undefined;
  const user = store.profile(epoch);
  if (!user) return undefined;
  return { user, assurance: heldAssurance(session) ?? sessionAssurance({ aal: null, amr: null, authTime: null, createdAt: session.created_at }) };
}
