/**
 * The liveness-check half of the user's Durable Object (issue 27, slice 1): `check` answers whether
 * an access token's session is live, with the public user `me` and `AuthRpc.verifySession` show,
 * from the object's `ProfileCache` (src/sessions/profile-cache.ts) when warm: no D1 trip. Cold, it
 * makes today's one D1 read (src/sessions/liveness.ts: session ⋈ user, live and not disabled) and keeps the answer under the
 * cache's epoch rule. `beginChange`/`endChange` are the two calls every writer of what a check
 * shows makes around its D1 write (src/accounts/change-user.ts `changeUser`; signIn; deletion).
 * `UserSessions` (src/sessions/user-object.ts) extends this class and invalidates the cache around
 * its own D1 writes (revocations, touches), so every revocation reaches the cache before it answers.
 *
 * A session this object never saw (made before this code, or whose registration was lost) simply
 * reads D1 on its first check: that is the legacy lookup, and revoked or unknown sessions are refused
 * exactly as D1 says. Refusals are not cached.
 *
 * @example
 * const user = await userSessions(deps, claims.userId).check({ userId: claims.userId, sessionId: claims.sessionId });
 * if (!user) throw invalidToken("The session has ended");
 */
import { DurableObject } from "cloudflare:workers";
import { publicUser } from "../accounts/users";
import type { SpentProof } from "./spent-proofs";
import type { ClientInfo, PublicUser, Role } from "../types";
import type { Assurance } from "../tokens";
import { ProfileCache } from "./profile-cache";
import type { CachedSession, ChangeTicket } from "./profile-cache";
import { liveSessionRow } from "./liveness";

export type { ChangeTicket } from "./profile-cache";

/** A sign-in's new session, for `endChange` to keep (read in the batch that created it). */
export interface SessionRegistration {
  /** The epoch `beginChange` returned. */
  epoch: number;
  sessionId: string;
  session: CachedSession;
  /**
   * A session written by the Worker's D1 batch with no first token's hash (issue 27: a full account's
   * since slice 7, a new guest's since slice 8): the user's object holds it from now on
   * (src/sessions/user-object.ts `endChange`), so no call ever adopts it. Absent: a check answer to
   * keep warm only.
   */
  hold?: HeldSession;
}

/** What the object needs to hold a session the Worker started in D1. Times in ms. */
export interface HeldSession {
  /** SHA-256 (base64url) of the session's first refresh token. */
  tokenHash: string;
  /** The sign-in's instant, the session's true expiry and the expiry its D1 row holds (never earlier). */
  createdAt: number;
  expiresAt: number | null;
  d1ExpiresAt: number | null;
  assurance: Assurance;
  client: ClientInfo;
  /** The account's role the session was started for: a guest's never expires (`expiresAt` null). */
  role: Role;
  /**
   * The method(s) of the sign-in (`password`, `password+totp`, `guest`, …): its `sign_in` event
   * (API.md §9) is kept by the object with the session, in the same step (slice 8), not staged in D1.
   */
  method: string;
  /** The batch may have staged other activity rows (a recovery code's `recovery_code_used`): drained soon. */
  drain: boolean;
}

export class ProfileObject extends DurableObject<Env> {
  /** The cache of live sessions' answers; subclasses call `invalidate()` around their D1 writes. */
  protected readonly profiles = new ProfileCache(this.ctx.storage.kv);

  /**
   * The public user of `userId` while session `sessionId` is live (not revoked, not expired at the
   * real clock's now, the account not disabled), else null. Warm: no D1 trip; cold: one D1 read.
   * The caller has verified the access token naming both ids; this object is `idFromName(userId)`.
   */
  async check(input: { userId: string; sessionId: string }): Promise<PublicUser | null> {
    const now = Date.now();
    const hit = this.profiles.get(input.sessionId, now) ?? this.vouched(input.sessionId, now);
    if (hit) return hit.user;
    const ticket = this.profiles.ticket(now);
    const row = await liveSessionRow(this.env.DB, { sessionId: input.sessionId, userId: input.userId, now });
    if (!row) return null;
    const user = publicUser(row.user);
    this.profiles.keep(ticket, input.sessionId, { user, expiresAt: row.expiresAt }, Date.now());
    return user;
  }

  /**
   * A live session's answer this object's storage vouches for with no D1 trip (a subclass holding
   * sessions overrides it), or undefined. Read only: it creates no storage.
   */
  protected vouched(_sessionId: string, _now: number): CachedSession | undefined {
    return undefined;
  }

  /**
   * Call before a D1 write that may change a check's answer for this user: drops the cache and keeps
   * cold reads from being cached until `endChange` (or CHANGE_DEADLINE_MS). Returns the change's ticket.
   * `newUser`: the write creates the user (a new guest's sign-up): the change is kept in memory only,
   * so a sign-up that dies before its `endChange` leaves this object no storage (`ProfileCache.begin`).
   */
  async beginChange(_spend?: SpentProof, newUser?: boolean): Promise<ChangeTicket> {
    return this.profiles.begin(Date.now(), newUser === true);
  }

  /**
   * Call after that D1 write (whether it succeeded or not). With `register`, a sign-in's new session
   * is kept warm when nothing else changed meanwhile.
   */
  endChange(id: string, register?: SessionRegistration): void | Promise<void> {
    this.profiles.end(id, Date.now(), register);
  }
}
