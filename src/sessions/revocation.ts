/**
 * The user object's own D1 writes as changes of what its checks answer (src/sessions/profile-cache.ts
 * rule 3), and its revocation (src/sessions/user-object.ts): the sessions are revoked in D1 with their
 * events in one batch, then forgotten in the store. A revocation the object made alone, with no other
 * change overlapping, moves nothing else D1 would answer, so what D1 vouched for (the other sessions'
 * marks, the profile, the guard, the complete list) is carried to the new epoch: a sign-out does not
 * make the next sign-in, refresh or list read D1 (issue 27, slice 3).
 *
 * @example
 * const revocation = new Revocation({ env: () => this.env, held, profiles });
 * await revocation.revoke(userId, [sessionId], "signout", now, client); // inside the object's serial queue
 * await revocation.revokeToken(refreshToken, now, client, "signout"); // the session id, or null
 */
import { drizzle } from "drizzle-orm/d1";
import type { ClientInfo } from "../types";
import type { HeldStore } from "./held-store";
import { sha256 } from "../crypto";
import { revokeInD1, unadoptedSession } from "./object-statements";
import { parseRefreshToken } from "./refresh-token";
import type { ProfileCache } from "./profile-cache";

/** Runs one of the object's D1 writes as a change of what `check` answers: `begin` before, `end` after. */
export async function changing<T>(profiles: ProfileCache, write: () => Promise<T>): Promise<T> {
  const change = profiles.begin(Date.now());
  try {
    return await write();
  } finally {
    profiles.end(change.id, Date.now());
  }
}

/** What `Revocation` works with: the object's env (read at each use: tests swap it), store and change ledger. */
export interface RevocationParts {
  env: () => Env;
  held: HeldStore;
  profiles: ProfileCache;
  /** Called after a revocation's batch staged its events in D1: the object drains them soon (slice 8). */
  staged?: () => Promise<void>;
}

export class Revocation {
  constructor(private readonly parts: RevocationParts) {}

  /**
   * Revokes the sessions (ids) of `userId` with `reason` at `now` (ms) in D1, their events in the same batch, then
   * forgets them here (see the module comment). Nothing for an empty list; D1 errors propagate.
   */
  async revoke(userId: string, sessionIds: string[], reason: string, now: number, client?: ClientInfo | null): Promise<void> {
    if (sessionIds.length === 0) return;
    const { held, profiles } = this.parts;
    const before = profiles.ticket(Date.now());
    await changing(profiles, () => revokeInD1(drizzle(this.parts.env().DB), userId, sessionIds, reason, now, client ?? null));
    const store = held.existing;
    for (const id of sessionIds) store?.forget(id);
    // Nothing else D1 would answer moved (the begin and end of this change alone bumped the epoch).
    if (store && profiles.current({ ...before, epoch: before.epoch + 2 }, Date.now())) store.carryForward(before.epoch, profiles.epoch);
    await this.parts.staged?.();
  }

  /**
   * Revokes the session a refresh token belongs to (any of its tokens, current or rotated) with
   * `reason` at `now` (ms); returns its id, or null for an unknown token (ignored). A guest's session
   * never adopted is ended without being adopted: signing out gives the object no storage.
   */
  async revokeToken(token: string, now: number, client: ClientInfo | undefined, reason: string): Promise<string | null> {
    const parsed = parseRefreshToken(token);
    if (!parsed) return null;
    const hash = await sha256(token);
    const store = this.parts.held.existing;
    const row = store?.token(hash);
    if (row) {
      await this.revoke(parsed.userId, [row.session_id], reason, now, client);
      return row.session_id;
    }
    if (store?.session(parsed.sessionId) || !(await unadoptedSession(drizzle(this.parts.env().DB), parsed.userId, parsed.sessionId, now, hash))?.hash) return null;
    await this.revoke(parsed.userId, [parsed.sessionId], reason, now, client);
    return parsed.sessionId;
  }
}
