/**
 * A user's sessions as the sessions list shows them (API.md §1 `GET /v1/auth/sessions`, and the admin
 * user view, §10), built by the user's object (src/sessions/user-object.ts `listSessions`). Since issue
 * 27's slice 2 a rotation writes D1 only when D1's expiry must move (src/sessions/vouch.ts), so the
 * object is of record for a held session's last use, client and exact expiry.
 *
 * - **Complete** (no D1 trip): when the object's store held every live session of the user at the
 *   current change epoch (`complete_epoch`: D1 listed them, nothing changed since), the list is the
 *   store's (`heldViews`). Every writer that may end or add a session in D1 moves the epoch
 *   (`beginChange`/`endChange`; a sign-in's batch too), so the first list after one reads D1 again.
 * - **Otherwise** one D1 read of the user's live rows, merged (`mergedViews`): a session the object
 *   holds shows the object's view; an adopted one it no longer holds has ended; one not adopted yet
 *   shows as D1 has it. The object then holds them all, and is complete again if nothing changed
 *   meanwhile.
 *
 * @example
 * const list = new SessionList({ env: () => this.env, held, profiles, clock });
 * const views = await list.list({ userId, current: sessionId }); // inside the object's serial queue
 */
import { drizzle } from "drizzle-orm/d1";
import type { HeldStore } from "./held-store";
import { sessionRowsOf } from "./object-statements";
import type { ProfileCache, ReadTicket } from "./profile-cache";
import type { SessionRow } from "./schema";
import type { Clock, SessionStateRow, TokenStore } from "./token-store";

/** One live session (times in ms; `expiresAt` null: a guest's, never). */
export interface HeldSessionView {
  id: string;
  createdAt: number;
  lastUsedAt: number;
  expiresAt: number | null;
  ipAddress: string | null;
  userAgent: string | null;
}

const live = (state: SessionStateRow, now: number) => state.expires_at === null || state.expires_at > now;
const newestFirst = (views: HeldSessionView[]) => views.sort((a, b) => b.lastUsedAt - a.lastUsedAt);
/** D1's last use of a row: null since slice 9 (the object holds it), read as its start. */
const d1LastUse = (row: SessionRow) => row.lastUsedAt ?? row.createdAt;

/** The object's view of a held session; D1's start, last use and client where the object has none. */
function heldView(state: SessionStateRow, row?: SessionRow): HeldSessionView {
  const objectUse = state.last_used_at ?? 0;
  const d1Newer = row !== undefined && row.lastUsedAt !== null && row.lastUsedAt > objectUse;
  return {
    id: state.id,
    createdAt: state.signed_in_at ?? row?.createdAt ?? state.created_at,
    lastUsedAt: d1Newer ? d1LastUse(row) : (state.last_used_at ?? state.signed_in_at ?? state.created_at),
    expiresAt: state.expires_at,
    ipAddress: d1Newer ? row.ipAddress : state.ip_address,
    userAgent: d1Newer ? row.userAgent : state.user_agent,
  };
}

/** The live sessions the store holds at `now` (its clock), most recently used first: the complete list. */
export function heldViews(held: readonly SessionStateRow[], now: number): HeldSessionView[] {
  return newestFirst(held.filter((state) => live(state, now)).map((state) => heldView(state)));
}

/**
 * The live sessions among `rows` (D1's live rows of one user), most recently used first: a held one
 * (in `held`, the object's sessions by id) while unexpired at `now`, with the object's last use,
 * client and expiry; an adopted one (first token's hash cleared) not held: ended; one not adopted
 * yet: as D1 has it.
 */
export function mergedViews(rows: readonly SessionRow[], held: ReadonlyMap<string, SessionStateRow>, now: number): HeldSessionView[] {
  const views: HeldSessionView[] = [];
  for (const row of rows) {
    const state = held.get(row.id);
    if (state) {
      if (live(state, now)) views.push(heldView(state, row));
    } else if (row.firstRefreshTokenHash !== null) {
      views.push({ id: row.id, createdAt: row.createdAt, lastUsedAt: d1LastUse(row), expiresAt: row.expiresAt, ipAddress: row.ipAddress, userAgent: row.userAgent });
    }
  }
  return newestFirst(views);
}

/** What `SessionList` works with: the object's env (read at each use), store, change ledger and clock. */
export interface SessionListParts {
  env: () => Env;
  held: HeldStore;
  profiles: ProfileCache;
  clock: Clock;
}

/** The user object's sessions list, as described above. Runs inside the object's serial queue. */
export class SessionList {
  constructor(private readonly parts: SessionListParts) {}

  /**
   * The live sessions, most recently used first: the store's when complete, else one D1 read merged
   * with it; then the store holds every live session (one not adopted yet is taken in with its first
   * token's hash, as its first refresh would), forgets those D1 ended, and is complete if no change
   * overlapped. With `current`, null unless that session is among them (a disabled account lists none).
   */
  async list(input: { userId: string; current?: string }): Promise<HeldSessionView[] | null> {
    const { held, profiles, clock } = this.parts;
    const now = clock.now();
    const store = held.existing;
    let views: HeldSessionView[];
    if (store && store.completeAt() === profiles.epoch && !profiles.pendingAt(Date.now())) {
      views = heldViews(store.sessions(), now);
    } else {
      const ticket = profiles.ticket(Date.now());
      // D1's rows as of the real clock (as every D1 liveness read); the held sessions' by this object's.
      const found = await sessionRowsOf(drizzle(this.parts.env().DB), input.userId, Date.now());
      const kept = new Map((held.existing?.sessions() ?? []).map((s) => [s.id, s]));
      views = mergedViews(found.sessions, kept, now);
      if (found.isGuest !== null) this.#holdAll(found.sessions, found.isGuest, kept, ticket);
      else for (const id of kept.keys()) held.store.forget(id);
    }
    if (input.current !== undefined && !views.some((view) => view.id === input.current)) return null;
    return views;
  }

  /** After the D1 read (`rows`: the live rows): holds them all, forgets the rest, and marks the store complete if the read is current. */
  #holdAll(rows: SessionRow[], isGuest: boolean, kept: Map<string, SessionStateRow>, ticket: ReadTicket): void {
    const { profiles } = this.parts;
    const store = this.parts.held.store;
    holdSessions(store, rows, isGuest, kept);
    if (profiles.current(ticket, Date.now())) store.setCompleteAt(ticket.epoch);
  }
}

/**
 * Makes the store hold exactly the live sessions D1 listed (`rows`, of an account that is a guest's
 * or not): those held (`kept`, by id) and not listed are forgotten, and one listed but not adopted
 * yet is taken in with its first token's hash, as its first refresh would take it. An adopted row
 * the store no longer holds has ended and stays out. The caller marks the store complete.
 */
export function holdSessions(store: TokenStore, rows: readonly SessionRow[], isGuest: boolean, kept: ReadonlyMap<string, SessionStateRow>): void {
  store.setRole(isGuest ? "guest" : "user");
  const listed = new Set(rows.map((row) => row.id));
  for (const id of kept.keys()) if (!listed.has(id)) store.forget(id);
  for (const row of rows) {
    if (kept.has(row.id) || row.firstRefreshTokenHash === null) continue;
    const seen = { d1ExpiresAt: row.expiresAt, lastUsedAt: d1LastUse(row), ipAddress: row.ipAddress, userAgent: row.userAgent };
    store.addSession(row.id, row.createdAt, row.expiresAt, row.firstRefreshTokenHash, seen);
  }
}
