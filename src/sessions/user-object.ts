/**
 * One Durable Object per user: the only writer of that user's refresh-token state, and (through
 * `ProfileObject`, src/sessions/profile-object.ts) the D1-free liveness check of `me` and
 * `AuthRpc.verifySession`, whose cache every D1 write made here invalidates (`#changing`).
 *
 * The authoritative refresh-token state (current hash per session, rotated ones and when, the
 * sealed successor pair of the reuse window) lives in this object's SQLite storage
 * (src/sessions/token-store.ts): only there can a check and the act that follows it be atomic. D1
 * keeps the session rows of record. Input gates do not cover awaits on D1, so every operation runs
 * one at a time through `#serial`; its D1 write goes first and the object's storage changes only
 * after it succeeded, so a failed D1 write leaves nothing half-done and the token can be retried.
 *
 * Sessions start without this object's storage (src/sessions/issue.ts writes the row, with the hash
 * of the first refresh token). The first call naming a session not held yet **adopts** it
 * (`#adopt`): it reads the live row, takes the first hash into its store, and the D1 write that
 * follows clears the row's hash, so a session is adopted once. Revocations read the live sessions
 * from D1, so a session not adopted yet is revoked like any other. D1 statements:
 * object-statements.ts; answer types: pair-outcome.ts.
 *
 * @example
 * const stub = env.USER_SESSIONS.get(env.USER_SESSIONS.idFromName(userId));
 * const outcome = await stub.refresh({ token, ipAddress, userAgent });
 * if (outcome.ok) outcome.pair.refreshToken;
 */
import { drizzle } from "drizzle-orm/d1";
import { loadConfig } from "../config";
import type { Config } from "../config";
import { seal, sha256, unseal } from "../crypto";
import { makeRefreshToken, parseRefreshToken } from "./refresh-token";
import { migrate } from "../db/object-migrations";
import { TOKEN_STORE_MIGRATIONS, TokenStore, systemClock } from "./token-store";
import type { Clock, SessionStateRow } from "./token-store";
import { refreshExpiry } from "./expiry";
import { tokenPair } from "./pair";
import { liveSessionRow } from "./liveness";
import { sessionAssurance } from "./assurance";
import { publicUser } from "../accounts/users";
import { expireUnlimitedSessions, liveSessionIds, revokeInD1, sessionRowsOf, touchSession, unadoptedSession, unlimitedUnadoptedSessions } from "./object-statements";
import { heldSessionViews } from "./session-list";
import type { HeldSessionView } from "./session-list";
import { d1Expiry, mustWriteExpiry, vouchedFor } from "./vouch";
import type { CachedSession } from "./profile-cache";
import { openedPair } from "./pair-outcome";
import { ProfileObject } from "./profile-object";
import type { PairOutcome, Touched } from "./pair-outcome";
import type { ClientInfo, IssuedPair, Role } from "../types";

export type { ClientInfo, IssuedPair } from "../types";
export type { PairOutcome } from "./pair-outcome";

export class UserSessions extends ProfileObject {
  #queue: Promise<unknown> = Promise.resolve();
  /** Null after `erase()`, so an erased object keeps an empty storage until it is used again. */
  #tokenStore: TokenStore | null = null;
  /** The object's time for token state and the rows it writes (tests move it; tokens use the real clock). */
  readonly clock: Clock = systemClock();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void this.#existingStore; // an object holding sessions makes its change epoch durable at once
  }

  /**
   * Migrates and opens the store on first use (synchronous), so an object holding no session has no
   * storage; from then on the change epoch is kept in it (`ProfileCache.attach`).
   */
  #open(): TokenStore {
    migrate(this.ctx.storage, TOKEN_STORE_MIGRATIONS);
    const store = (this.#tokenStore = new TokenStore(this.ctx.storage.sql, this.clock));
    this.profiles.attach(store.epoch(), (epoch) => store.setEpoch(epoch));
    return store;
  }

  get #store(): TokenStore {
    return this.#tokenStore ?? this.#open();
  }

  /** The store if one exists, else null: reading or ending paths use it, so they create no storage (kept for good). */
  get #existingStore(): TokenStore | null {
    if (this.#tokenStore) return this.#tokenStore;
    const tables = this.ctx.storage.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tokens'").toArray();
    return tables.length > 0 ? this.#store : null;
  }

  get #config(): Config {
    return loadConfig(this.env);
  }

  get #db() {
    return drizzle(this.env.DB);
  }

  /** Runs operations one at a time, across their awaits on D1. */
  #serial<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(operation);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  #expiry(role: Role, now: number, sessionStart: number): number | null {
    return refreshExpiry(this.#config, role, now, sessionStart);
  }

  async #pair(userId: string, sessionId: string, role: Role, touched: Touched, expiresAt: number | null, now: number): Promise<IssuedPair> {
    return tokenPair(this.#config, { userId, sessionId, role, expiresAt, assurance: touched.assurance }, makeRefreshToken(userId, sessionId), touched.user, now);
  }

  /**
   * Takes a session this object does not hold yet into its store (see the module's comment): only a
   * live row of this user whose first refresh token's hash is still set and, when `tokenHash` is
   * given, equal to it, so a made-up token adopts nothing and creates no storage. The store's role
   * follows the account's. True when the store now holds the session. Runs inside `#serial`.
   */
  async #adopt(userId: string, sessionId: string, now: number, tokenHash?: string): Promise<boolean> {
    if (this.#existingStore?.session(sessionId)) return true;
    const found = await unadoptedSession(this.#db, userId, sessionId, now, tokenHash);
    if (!found?.hash) return false;
    this.#store.setRole(found.isGuest ? "guest" : "user");
    this.#store.addSession(sessionId, found.createdAt, found.expiresAt, found.hash);
    return true;
  }

  /**
   * Takes every live session of this user with no expiry (a guest's) that this object does not hold
   * yet into its store, so the upgrade's `expireUnlimited` restarts their lifetime as it does for the
   * adopted ones; else one adopted later keeps its guest start and may be past SESSION_MAX_DAYS at
   * once. Runs inside `#serial`.
   */
  async #adoptUnlimited(userId: string, now: number): Promise<void> {
    const rows = await unlimitedUnadoptedSessions(this.#db, userId, now);
    for (const row of rows) if (row.hash && !this.#store.session(row.id)) this.#store.addSession(row.id, row.createdAt, null, row.hash);
  }

  /** Whether the session's D1 row is live and its account not disabled at `now` (ms). */
  async #liveInD1(userId: string, sessionId: string, now: number): Promise<boolean> {
    return (await liveSessionRow(this.env.DB, { userId, sessionId, now })) !== undefined;
  }

  /** What this object's storage vouches for the held session, with no D1 trip (src/sessions/vouch.ts), or undefined. */
  #vouched(session: SessionStateRow): Touched | undefined {
    return vouchedFor(this.#store, session, this.profiles.epoch, this.profiles.pendingAt(Date.now()));
  }

  /** `check`'s answer from storage (profile-object.ts): a held, unexpired, vouched session. Creates no storage. */
  protected override vouched(sessionId: string): CachedSession | undefined {
    const session = this.#existingStore?.session(sessionId);
    if (!session || (session.expires_at !== null && session.expires_at <= this.clock.now())) return undefined;
    const vouched = this.#vouched(session);
    return vouched && { user: vouched.user, expiresAt: session.expires_at };
  }

  /**
   * What a rotation needs of D1, in the fewest trips (src/sessions/vouch.ts): none when the store
   * vouches for the session and D1's expiry need not move; the liveness read when it does not vouch;
   * the touch (a write) when D1's row must change: its first token's hash cleared at adoption, or its
   * expiry moved. Null when the session is not live in D1 or the account is disabled.
   */
  async #confirm(userId: string, session: SessionStateRow, expiresAt: number | null, client: ClientInfo, now: number, adopted: boolean): Promise<Touched | null> {
    if (adopted || mustWriteExpiry(session.d1_expires_at, expiresAt)) return this.#touch(userId, session.id, expiresAt, session.created_at, client, now);
    const vouched = this.#vouched(session);
    if (vouched) return vouched;
    const ticket = this.profiles.ticket(Date.now());
    const row = await liveSessionRow(this.env.DB, { sessionId: session.id, userId, now });
    // Not live: the touch's compare-and-set answers, and ends the session of a disabled account.
    if (!row) return this.#touch(userId, session.id, expiresAt, session.created_at, client, now);
    const seen = { user: publicUser(row.user), assurance: sessionAssurance(row), d1ExpiresAt: row.expiresAt };
    if (ticket.clean && ticket.epoch === this.profiles.epoch && !this.profiles.pendingAt(Date.now())) this.#store.markChecked(session.id, ticket.epoch, seen);
    return seen;
  }

  /**
   * Rotates a refresh token. The same token again within the reuse window gets the same new pair
   * (parallel tabs stay signed in); after the window it revokes the whole session.
   */
  refresh(input: ClientInfo & { token: string }): Promise<PairOutcome> {
    return this.#serial(async () => {
      const parsed = parseRefreshToken(input.token);
      if (!parsed) return { ok: false, reason: "invalid" } as const;
      const now = this.clock.now();
      const hash = await sha256(input.token);
      let row = this.#existingStore?.token(hash);
      const adopted = !row && (await this.#adopt(parsed.userId, parsed.sessionId, now, hash));
      if (adopted) row = this.#store.token(hash);
      if (!row || row.session_id !== parsed.sessionId) return { ok: false, reason: "invalid" } as const;
      const session = this.#store.session(row.session_id);
      if (!session) return { ok: false, reason: "invalid" } as const;
      if (session.expires_at !== null && session.expires_at <= now) {
        await this.#revoke([session.id], "expired", now);
        return { ok: false, reason: "expired" } as const;
      }

      if (row.rotated_at !== null) {
        const successor = row.successor_hash ? this.#store.token(row.successor_hash) : undefined;
        const withinWindow = now - row.rotated_at <= this.#config.reuseWindowMs;
        if (withinWindow && successor && successor.rotated_at === null) {
          const opened = row.successor_sealed ? await unseal(input.token, row.successor_sealed) : null;
          // A sign-in's session limit revokes in D1 only (src/sessions/issue.ts), so this object may
          // still hold an evicted session: the repeat gets its pair only while the row is live.
          if (opened && !this.#vouched(session) && !(await this.#liveInD1(parsed.userId, session.id, now))) {
            this.#store.forget(session.id);
            return { ok: false, reason: "invalid" } as const;
          }
          if (opened) return { ok: true, pair: openedPair(opened) } as const;
          // Superseded by a reissue (upgrade), whose pair went to the caller that asked for it.
          if (!row.successor_sealed) return { ok: false, reason: "invalid" } as const;
        }
        await this.#revoke([session.id], "reuse", now);
        return { ok: false, reason: "reused" } as const;
      }

      const role = this.#store.role();
      const expiresAt = this.#expiry(role, now, session.created_at);
      if (expiresAt !== null && expiresAt <= now) {
        await this.#revoke([session.id], "expired", now);
        return { ok: false, reason: "expired" } as const;
      }
      const touched = await this.#confirm(parsed.userId, session, expiresAt, input, now, adopted);
      if (!touched) {
        this.#store.forget(session.id);
        return { ok: false, reason: "invalid" } as const;
      }

      const pair = await this.#pair(parsed.userId, session.id, role, touched, expiresAt, now);
      const nextHash = await sha256(pair.refreshToken);
      const sealed = await seal(input.token, JSON.stringify(pair));
      this.#store.advance(session.id, nextHash, sealed, expiresAt, now);
      this.#store.recordUse(session.id, now, input);
      this.#store.prune(session.id, now - this.#config.reuseWindowMs);
      return { ok: true, pair } as const;
    });
  }

  /** Revokes the session a refresh token belongs to; unknown tokens are ignored. */
  revokeToken(token: string, client?: ClientInfo, reason = "signout"): Promise<string | null> {
    return this.#serial(async () => {
      const parsed = parseRefreshToken(token);
      if (!parsed) return null;
      const hash = await sha256(token);
      const now = this.clock.now();
      const store = this.#existingStore;
      const row = store?.token(hash);
      if (row) {
        await this.#revoke([row.session_id], reason, now, client);
        return row.session_id;
      }
      // A session never adopted ends without being adopted: signing out gives this object no storage.
      if (store?.session(parsed.sessionId) || !(await unadoptedSession(this.#db, parsed.userId, parsed.sessionId, now, hash))?.hash) return null;
      await this.#revoke([parsed.sessionId], reason, now, client);
      return parsed.sessionId;
    });
  }

  /**
   * Revokes the given sessions of this user, or all of them when `sessionIds` is left out, except
   * `keep`. Returns the ids that were active and are now revoked.
   */
  revokeSessions(input: { userId: string; sessionIds?: string[]; keep?: string; reason: string; client?: ClientInfo | null }): Promise<string[]> {
    return this.#serial(async () => {
      const now = this.clock.now();
      // From D1, the record: it also lists the sessions this object has not adopted yet.
      const live = await liveSessionIds(this.#db, input.userId, now, input.sessionIds);
      // D1's expiry may be later than a held session's own (vouch.ts): those the store holds expired are left out.
      const expired = new Set(this.#existingStore?.sessions().filter((s) => s.expires_at !== null && s.expires_at <= now).map((s) => s.id));
      const targets = live.map((s) => s.id).filter((id) => id !== input.keep && !expired.has(id));
      await this.#revoke(targets, input.reason, now, input.client);
      return targets;
    });
  }

  /**
   * This user's live sessions, most recently used first (src/sessions/session-list.ts): one D1 read,
   * with this object's last use, client and expiry of the sessions it holds. With `current` (the
   * caller's session), null unless that session is among them: the list's liveness check. Reads only.
   */
  async sessionViews(input: { userId: string; current?: string }): Promise<HeldSessionView[] | null> {
    const now = this.clock.now();
    const rows = await sessionRowsOf(this.#db, input.userId, now);
    const held = new Map((this.#existingStore?.sessions() ?? []).map((s) => [s.id, s]));
    const views = heldSessionViews(rows, held, now);
    if (input.current !== undefined && !views.some((view) => view.id === input.current)) return null;
    return views;
  }

  /**
   * Deletes everything this object stores (account deletion, API.md §9), after the operations
   * queued before it. The D1 rows are the caller's to delete, in its own batch, first: with them
   * gone no sign-in guard, refresh or reissue can succeed, so nothing can be written here again
   * but an empty token store on a later call.
   */
  erase(): Promise<void> {
    return this.#serial(async () => {
      this.#tokenStore = null;
      this.profiles.detach();
      this.profiles.invalidate();
      await this.ctx.storage.deleteAll();
    });
  }

  /**
   * Gives the session a fresh pair, for a new role (a guest upgraded) and its new expiry, or a new
   * assurance (a second factor activated or shown for step-up, API.md §15: `addMethod` joins the
   * session's `amr` unless already there, which makes it aal2 with `auth_time` now).
   */
  reissue(input: ClientInfo & { userId: string; sessionId: string; role: Role; addMethod?: string }): Promise<PairOutcome> {
    return this.#serial(async () => {
      const now = this.clock.now();
      if (!(await this.#adopt(input.userId, input.sessionId, now))) return { ok: false, reason: "invalid" } as const;
      const session = this.#store.session(input.sessionId);
      if (!session) return { ok: false, reason: "invalid" } as const;
      // A guest's session has no expiry and may be older than SESSION_MAX_DAYS: as a full account's,
      // its lifetime starts now, or the new pair would be expired on arrival.
      const start = session.expires_at === null ? now : session.created_at;
      const expiresAt = this.#expiry(input.role, now, start);
      const touched = await this.#touch(input.userId, session.id, expiresAt, start, input, now, input.addMethod);
      if (!touched) return { ok: false, reason: "invalid" } as const;
      const user = touched.user;
      const pair = await this.#pair(user.id, session.id, input.role, touched, expiresAt, now);
      const hash = await sha256(pair.refreshToken);
      // The guest's sessions now belong to a full account: they expire like one, counted from now.
      if (expiresAt !== null) {
        await this.#adoptUnlimited(user.id, now);
        this.#store.expireUnlimited(expiresAt, now);
      }
      // No sealed pair: inside the window the old token is refused quietly, after it, it is reuse.
      this.#store.advance(session.id, hash, null, expiresAt, now);
      this.#store.recordUse(session.id, now, input);
      this.#store.setRole(input.role);
      if (expiresAt === null) return { ok: true, pair } as const;
      await this.#changing(() => expireUnlimitedSessions(this.#db, user.id, expiresAt));
      return { ok: true, pair } as const;
    });
  }

  /**
   * The D1 write of a rotation (`touchSession`: last use, client and D1's expiry, `expiresAt` made
   * later by vouch.ts's slack from the session's start `sessionStart`, as a compare-and-set; with
   * `addMethod`, a step-up); it returns the account and the session's assurance (API.md §15) for the
   * new access token, and marks the session vouched when no other change overlapped. Null when the
   * row is gone or the account disabled; a disabled account's session is ended here too, in case the
   * revocation that follows a disable (src/admin) did not happen.
   */
  async #touch(userId: string, sessionId: string, expiresAt: number | null, sessionStart: number, client: ClientInfo, now: number, addMethod?: string): Promise<Touched | null> {
    const d1ExpiresAt = d1Expiry(this.#config, expiresAt, sessionStart);
    const { value, clean, epoch } = await this.#changing(() => touchSession(this.#db, userId, sessionId, d1ExpiresAt, client, now, addMethod));
    const { row, user } = value;
    if (row && user) {
      const seen = { user: publicUser(user), assurance: sessionAssurance(row), d1ExpiresAt };
      if (clean) this.#store.markChecked(sessionId, epoch, seen);
      return seen;
    }
    if (user && user.disabledAt !== null) await this.#revoke([sessionId], "disabled", now, client);
    return null;
  }

  /**
   * Runs one of this object's D1 writes as a change of what `check` answers (profile-object.ts).
   * `clean`: no other change was pending or happened meanwhile, so what the write read is current at
   * `epoch`, the epoch after it.
   */
  async #changing<T>(write: () => Promise<T>): Promise<{ value: T; clean: boolean; epoch: number }> {
    const change = this.profiles.begin(Date.now());
    let epoch = change.epoch;
    try {
      const value = await write();
      epoch = this.profiles.end(change.id, Date.now());
      return { value, clean: !change.othersPending && epoch === change.epoch + 1 && !this.profiles.pendingAt(Date.now()), epoch };
    } finally {
      if (epoch === change.epoch) this.profiles.end(change.id, Date.now());
    }
  }

  /** Revokes the sessions and records each revocation's event in the same D1 batch. */
  async #revoke(sessionIds: string[], reason: string, now: number, client?: ClientInfo | null): Promise<void> {
    if (sessionIds.length === 0) return;
    await this.#changing(() => revokeInD1(this.#db, sessionIds, reason, now, client ?? null));
    const store = this.#existingStore;
    for (const id of sessionIds) store?.forget(id);
  }
}
