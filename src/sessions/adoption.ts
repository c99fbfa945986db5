/**
 * Sessions started in D1 (a guest's sign-up, a merge, a second factor's sign-in: src/sessions/issue.ts's
 * D1 path, and every session from before issue 27's slice 3) are taken into the user object's store
 * by the first call that names one: **adoption**. Only a live row of this user whose first refresh
 * token's hash is still set (and, when a token is presented, equal to its hash) is taken, so a
 * made-up token adopts nothing and creates no storage. Runs inside the object's serial queue
 * (src/sessions/user-object.ts).
 *
 * @example
 * const adoption = new Adoption({ env: () => this.env, held });
 * if (!(await adoption.adopt(userId, sessionId, now, await sha256(token)))) return { ok: false, reason: "invalid" };
 */
import { drizzle } from "drizzle-orm/d1";
import type { HeldStore } from "./held-store";
import { liveSessionRow } from "./liveness";
import { unadoptedSession, unlimitedUnadoptedSessions } from "./object-statements";

/** What `Adoption` works with: the object's env (read at each use: tests swap it) and its store. */
export interface AdoptionParts {
  env: () => Env;
  held: HeldStore;
}

export class Adoption {
  constructor(private readonly parts: AdoptionParts) {}

  /**
   * Takes the session into the store unless it is held already (see the module comment); the store's
   * role follows the account's. True when the store now holds the session. Times in ms.
   */
  async adopt(userId: string, sessionId: string, now: number, tokenHash?: string): Promise<boolean> {
    const { held } = this.parts;
    if (held.existing?.session(sessionId)) return true;
    const found = await unadoptedSession(drizzle(this.parts.env().DB), userId, sessionId, now, tokenHash);
    if (!found?.hash) return false;
    held.store.setRole(found.isGuest ? "guest" : "user");
    held.store.addSession(sessionId, found.createdAt, found.expiresAt, found.hash);
    return true;
  }

  /**
   * Takes every live session of this user with no expiry (a guest's) not held yet into the store, so
   * an upgrade's `expireUnlimited` restarts their lifetime as it does for the held ones; else one
   * adopted later keeps its guest start and may be past SESSION_MAX_DAYS at once.
   */
  async adoptUnlimited(userId: string, now: number): Promise<void> {
    const store = this.parts.held.store;
    const rows = await unlimitedUnadoptedSessions(drizzle(this.parts.env().DB), userId, now);
    for (const row of rows) if (row.hash && !store.session(row.id)) store.addSession(row.id, row.createdAt, null, row.hash);
  }

  /** Whether the session's D1 row is live and its account not disabled at `now` (ms). */
  async liveInD1(userId: string, sessionId: string, now: number): Promise<boolean> {
    return (await liveSessionRow(this.parts.env().DB, { userId, sessionId, now })) !== undefined;
  }
}
