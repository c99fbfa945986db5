/**
 * The user object's answer cache for liveness checks (issue 27, docs/edge-sessions.md "Built"): for
 * each session this object found live in D1, the public user `me` and `AuthRpc.verifySession` show
 * and the session's expiry, so a warm check answers with no D1 trip. The entries are memory only (a
 * check never creates object storage); the change ledger below is durable.
 *
 * Correctness is the epoch rule of docs/edge-sessions.md ("The user object after the move", rule 3):
 * every change that can alter a check's answer (a revocation, a touch of the session's expiry, a
 * change of a shown user field, a disable, a deletion, a sign-in's session limit) calls `begin`
 * **before** its D1 write and `end` after it. `begin` drops every entry, records a pending change
 * with a deadline (`CHANGE_DEADLINE_MS`, past any D1 timeout) and bumps the epoch; `end` clears it
 * and bumps the epoch again. A cold check reads D1 and keeps the answer only if, when its read
 * started, no change was pending and the epoch is the same when the read returns. So a read that
 * lands between `begin` and the D1 commit is answered but never kept, and a Worker that dies after
 * `begin` costs D1 reads until the deadline, nothing worse.
 *
 * Slice 2 made the ledger durable, so it survives a restart of the object: pending changes are kept
 * in the object's synchronous KV storage (`change:<id>` → deadline, deleted by `end`, so an object
 * with nothing else stored keeps nothing), and the epoch, once the object holds sessions, in its
 * token store (`attach`), where the per-session marks a refresh trusts are compared with it
 * (src/sessions/user-object.ts). Memory entries still age out after `MAX_ENTRY_AGE_MS`.
 *
 * @example
 * const cache = new ProfileCache(ctx.storage.kv);
 * const hit = cache.get(sessionId, Date.now());          // CachedSession | undefined
 * const ticket = cache.ticket(Date.now());                // before the D1 read
 * cache.keep(ticket, sessionId, { user, expiresAt }, Date.now()); // kept only if nothing changed
 * const change = cache.begin(Date.now()); // ... D1 write ...; cache.end(change.id, Date.now());
 */
import type { PublicUser } from "../types";

/** How long a change begun but never ended keeps cold reads from being kept (ms). */
export const CHANGE_DEADLINE_MS = 60_000;
/** How long a kept answer is trusted at most (ms); then the next check reads D1 again. */
export const MAX_ENTRY_AGE_MS = 60_000;

/** What a check needs of a live session: the public user and the session's expiry (ms, null: none). */
export interface CachedSession {
  user: PublicUser;
  expiresAt: number | null;
}

/** The state a cold read started from (`ticket`): kept only if it still holds when the read returns. */
export interface ReadTicket {
  epoch: number;
  clean: boolean;
}

/**
 * A change begun: its id for `end`, the epoch right after `begin` (for a registration), and the
 * sessions the object holds past their own expiry (ids; D1 may still count them live: src/sessions/vouch.ts).
 */
export interface ChangeTicket {
  id: string;
  epoch: number;
  expired?: string[];
  /** A sign-in's single-use proof given to `beginChange` had been spent before (src/sessions/spent-proofs.ts): the sign-in must fail. */
  spent?: boolean;
}

/** The durable half of the ledger: the object's synchronous KV storage (`ctx.storage.kv`). */
export type LedgerStorage = Pick<SyncKvStorage, "get" | "put" | "delete" | "list">;

const PENDING = "change:";

export class ProfileCache {
  readonly #entries = new Map<string, CachedSession & { keptAt: number }>();
  /** Pending changes: id → deadline (ms). */
  readonly #pending = new Map<string, number>();
  /** The ids `begin` gave out in this instance (a registration is trusted only from these). */
  readonly #begunHere = new Set<string>();
  /** Sessions ended by `forget`: id → until when (ms) no cold read's answer for them is kept. */
  readonly #ended = new Map<string, number>();
  #epoch = 0;
  #persist: ((epoch: number) => void) | null = null;

  /** Loads the pending changes a previous instance of the object recorded. */
  constructor(private readonly durable?: LedgerStorage) {
    for (const [key, deadline] of durable?.list<number>({ prefix: PENDING }) ?? []) this.#pending.set(key.slice(PENDING.length), deadline);
  }

  /** The current epoch: any change since a mark was made moved it. */
  get epoch(): number {
    return this.#epoch;
  }

  /**
   * Makes the epoch durable through `persist` from now on (the object's token store opened), starting
   * from the one it stored (`stored`) or, when bumps happened in this instance before it opened, past
   * both, so a mark made at an epoch before those bumps never matches again. A new store (`stored`
   * null: no marks yet) keeps the current epoch, so a read begun before it was created can still mark.
   */
  attach(stored: number | null, persist: (epoch: number) => void): void {
    if (stored !== null) this.#epoch = this.#epoch === 0 ? stored : Math.max(this.#epoch, stored) + 1;
    this.#persist = persist;
    persist(this.#epoch);
  }

  /** Stops persisting the epoch (the object's storage was erased). */
  detach(): void {
    this.#persist = null;
  }

  /** Drops every entry and bumps the epoch: what the object's own D1 writes do around themselves. */
  invalidate(): void {
    this.#entries.clear();
    this.#epoch += 1;
    this.#persist?.(this.#epoch);
  }

  /** True when a change is pending at `now` (expired ones are forgotten). */
  pendingAt(now: number): boolean {
    for (const [id, deadline] of this.#pending) {
      if (deadline > now) continue;
      this.#pending.delete(id);
      this.#begunHere.delete(id);
      this.durable?.delete(PENDING + id);
    }
    return this.#pending.size > 0;
  }

  /** The live session's cached answer at `now`, or undefined (cold, expired, too old, or a change pending). */
  get(sessionId: string, now: number): CachedSession | undefined {
    const entry = this.#entries.get(sessionId);
    if (!entry) return undefined;
    if ((entry.expiresAt !== null && entry.expiresAt <= now) || now - entry.keptAt > MAX_ENTRY_AGE_MS || this.pendingAt(now)) {
      this.#entries.delete(sessionId);
      return undefined;
    }
    return entry;
  }

  /**
   * Drops one session's kept answer (a session this object ended without a change: the 6th-session
   * rule of a sign-in started here, src/sessions/session-start.ts). No epoch moves, so a cold read of
   * it begun before its D1 revocation could still be kept when it returns: for CHANGE_DEADLINE_MS
   * (past any D1 timeout) no answer for it is kept at all.
   */
  forget(sessionId: string, now = Date.now()): void {
    this.#entries.delete(sessionId);
    this.#ended.set(sessionId, now + CHANGE_DEADLINE_MS);
  }

  /** True while `forget` keeps answers for the session from being kept (expired marks are dropped). */
  #endedAt(sessionId: string, now: number): boolean {
    for (const [id, until] of this.#ended) if (until <= now) this.#ended.delete(id);
    return this.#ended.has(sessionId);
  }

  /** Taken before a cold D1 read. */
  ticket(now: number): ReadTicket {
    return { epoch: this.#epoch, clean: !this.pendingAt(now) };
  }

  /**
   * True when what a D1 read begun at `ticket` saw is still current at `now`: no change was pending
   * when it began, none happened since, and none is pending now. The one rule for keeping any answer.
   */
  current(ticket: ReadTicket, now: number): boolean {
    return ticket.clean && ticket.epoch === this.#epoch && !this.pendingAt(now);
  }

  /** Keeps a cold read's answer if no change was pending when it started and none happened since, and the session was not ended by `forget`. */
  keep(ticket: ReadTicket, sessionId: string, session: CachedSession, now: number): boolean {
    if (!this.current(ticket, now) || this.#endedAt(sessionId, now)) return false;
    this.#entries.set(sessionId, { ...session, keptAt: now });
    return true;
  }

  /** True while change `id` is one this instance began and has not ended or forgotten (`forgetChanges`). */
  begunHere(id: string): boolean {
    return this.#begunHere.has(id);
  }

  /**
   * Forgets every change begun or pending (the object's storage was erased: API.md §9): their ends
   * still invalidate, but none of them counts as begun here any more.
   */
  forgetChanges(): void {
    this.#begunHere.clear();
    this.#pending.clear();
  }

  /**
   * Begins a change: drops every entry, marks it pending until `now + CHANGE_DEADLINE_MS`. With
   * `memoryOnly` (a new guest's sign-up, whose user has no row in D1 yet), the pending change is
   * not written to the durable ledger: if the sign-up dies before its `end`, nothing is left in an
   * object whose user was never written, which no deletion or clean-up could ever reach; and
   * nothing needs it, since no check can name a user no token was issued for, and a restarted
   * object refuses the sign-up's hold anyway (`begunHere`).
   */
  begin(now: number, memoryOnly = false): ChangeTicket {
    const id = crypto.randomUUID();
    this.invalidate();
    this.#pending.set(id, now + CHANGE_DEADLINE_MS);
    this.#begunHere.add(id);
    if (!memoryOnly) this.durable?.put(PENDING + id, now + CHANGE_DEADLINE_MS);
    return { id, epoch: this.#epoch };
  }

  /**
   * Ends a change (an unknown id, e.g. after the object restarted, still invalidates). With
   * `register` (a sign-in's new session, read in the same D1 transaction that wrote it) the answer is
   * kept when nothing else changed since `begin` (`epoch` is `begin`'s) and no other change is pending.
   * Only a change this instance began can vouch so: epochs may restart with the object (an object
   * holding no sessions keeps its epoch in memory only), so after a restart `begin`'s number may
   * recur for other changes (a deletion's begin, end and erase), and the registration is dropped (the
   * session's first check reads D1). Returns the epoch after the change.
   */
  end(id: string, now: number, register?: { epoch: number; sessionId: string; session: CachedSession }): number {
    const begunHere = this.#begunHere.delete(id) && this.#pending.delete(id);
    this.#pending.delete(id);
    this.durable?.delete(PENDING + id);
    const untouched = register !== undefined && begunHere && register.epoch === this.#epoch;
    this.invalidate();
    if (untouched && !this.pendingAt(now)) this.#entries.set(register.sessionId, { ...register.session, keptAt: now });
    return this.#epoch;
  }
}
