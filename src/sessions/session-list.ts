/**
 * A user's sessions as the sessions list shows them (API.md §1 `GET /v1/auth/sessions`, and the admin
 * user view, §10): D1's rows, with what the user's object holds laid over the sessions it adopted.
 * Since issue 27's slice 2 a rotation writes D1 only when D1's expiry must move (src/sessions/vouch.ts),
 * so the object is of record for an adopted session's last use, client and exact expiry; a session
 * the object adopted but no longer holds has ended (revoked, expired or refused there).
 *
 * `sessionViews` reads both at once (the D1 read from the Worker, the held sessions from the object),
 * so the list costs one primary trip and no more.
 *
 * @example
 * const views = await sessionViews(deps, userId); // HeldSessionView[], newest use first
 */
import { drizzle } from "drizzle-orm/d1";
import { userSessions } from "../http/deps";
import type { Deps } from "../http/deps";
import { sessionRowsOf } from "./object-statements";
import type { SessionRow } from "./schema";
import type { SessionStateRow } from "./token-store";

/** One live session (times in ms; `expiresAt` null: a guest's, never). */
export interface HeldSessionView {
  id: string;
  createdAt: number;
  lastUsedAt: number;
  expiresAt: number | null;
  ipAddress: string | null;
  userAgent: string | null;
}

/**
 * The live sessions among `rows` (D1's live rows of one user), most recently used first: a row not
 * adopted yet (its first token's hash set) as D1 has it; an adopted one only while `held` (the
 * object's sessions by id) has it unexpired at `now`, with the object's last use, client and expiry.
 */
export function heldSessionViews(rows: readonly SessionRow[], held: ReadonlyMap<string, SessionStateRow>, now: number): HeldSessionView[] {
  const views: HeldSessionView[] = [];
  for (const row of rows) {
    const view: HeldSessionView = {
      id: row.id, createdAt: row.createdAt, lastUsedAt: row.lastUsedAt, expiresAt: row.expiresAt, ipAddress: row.ipAddress, userAgent: row.userAgent,
    };
    if (row.firstRefreshTokenHash === null) {
      const state = held.get(row.id);
      if (!state || (state.expires_at !== null && state.expires_at <= now)) continue;
      view.expiresAt = state.expires_at;
      if (state.last_used_at !== null && state.last_used_at > row.lastUsedAt) {
        Object.assign(view, { lastUsedAt: state.last_used_at, ipAddress: state.ip_address, userAgent: state.user_agent });
      }
    }
    views.push(view);
  }
  return views.sort((a, b) => b.lastUsedAt - a.lastUsedAt);
}

/**
 * The user's live sessions (`heldSessionViews`), D1's rows (read at the real clock, as every D1
 * liveness read) and the object's held sessions (at its clock) read concurrently. Object or D1 failures propagate.
 */
export async function sessionViews(deps: Pick<Deps, "env">, userId: string): Promise<HeldSessionView[]> {
  const [rows, held] = await Promise.all([sessionRowsOf(drizzle(deps.env.DB), userId, Date.now()), userSessions(deps as Deps, userId).heldSessions()]);
  return heldSessionViews(rows, new Map(held.sessions.map((s) => [s.id, s])), held.now);
}
