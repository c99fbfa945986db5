/**
 * One Durable Object per user: the only writer of that user's refresh-token state.
 *
 * Where the state lives, and why: the authoritative refresh-token state (which token hash is current
 * for each session, which were rotated and when, and the sealed successor pair kept for the reuse
 * window) lives in this object's own SQLite storage (src/sessions/token-store.ts), because only there can a
 * check and the act that follows it be atomic. D1 keeps the session rows of record (creation, last use, expiry,
 * revocation) so that listing sessions and the per-request liveness check see every revocation at
 * once. Input gates do not cover awaits on D1, so every operation here runs one at a time through
 * `#serial`; the D1 write of an operation goes first, and the object's storage changes only after it
 * succeeded, so a failed D1 write leaves nothing half-done and the same token can be retried.
 *
 * @example
 * const stub = env.USER_SESSIONS.get(env.USER_SESSIONS.idFromName(userId));
 * const outcome = await stub.refresh({ token, ipAddress, userAgent });
 * if (outcome.ok) outcome.pair.refreshToken;
 */
import { DurableObject } from "cloudflare:workers";
import { and, eq, inArray, isNull, sql } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { loadConfig } from "../config";
import type { Config } from "../config";
import { seal, sha256, unseal } from "../crypto";
import { makeRefreshToken, parseRefreshToken } from "./refresh-token";
import { insertWhere } from "../db/insert-where";
import { clearLoginAttemptsStatement } from "../rate-limit";
import { activity, sessions } from "../db/schema";
import { migrate } from "../db/object-migrations";
import { TOKEN_STORE_MIGRATIONS, TokenStore, systemClock } from "./token-store";
import type { Clock } from "./token-store";
import type { UserRow } from "../db/schema";
import { insertGuestStatement, recordSignInStatement, selectUserStatement, userMatches } from "../accounts/statements";
import { publicUser } from "../accounts/users";
import { activityStatement } from "../activity";
import type { ActivityType, SignInMethod } from "../activity";
import { signAccessToken } from "../tokens";
import type { ClientInfo, IssuedPair, PublicUser, Role } from "../types";

export type { ClientInfo, IssuedPair } from "../types";

/**
 * A pair opened from its seal. Pairs sealed before `user` was made public carry the whole user row:
 * only its public fields are kept, so nothing more than a new pair would show leaves the object.
 */
function openedPair(json: string): IssuedPair {
  const pair = JSON.parse(json) as Omit<IssuedPair, "user"> & { user: PublicUser | UserRow };
  const user = "emailNormalized" in pair.user ? publicUser(pair.user) : pair.user;
  return { ...pair, user };
}

export type PairOutcome = { ok: true; pair: IssuedPair } | { ok: false; reason: "invalid" | "expired" | "reused" };

export interface IssueInput extends ClientInfo {
  userId: string;
  role: Role;
  /** Recorded with the `sign_in` activity event written in the session's batch. */
  method: SignInMethod;
  /**
   * Create the guest user row in the same D1 batch as its first session. Otherwise the batch also
   * clears the account's counted password attempts: a new session means a successful sign-in.
   */
  createGuest?: { createdAt: number };
}

export class UserSessions extends DurableObject<Env> {
  #queue: Promise<unknown> = Promise.resolve();
  /** Null after `erase()`, so an erased object keeps an empty storage until it is used again. */
  #tokenStore: TokenStore | null = null;
  /**
   * The object's time for token state, expiry and the D1 rows it writes. An instance property, so
   * not reachable over RPC; tests move it forward through `runInDurableObject` instead of editing
   * the object's rows. Access tokens are signed on the real clock.
   */
  readonly clock: Clock = systemClock();

  /**
   * Applies the storage's migrations and opens the token store on it: on first use, not in the
   * constructor, so an object that never holds a session (a made-up token's, an erased user's)
   * never gets storage. Synchronous, so no other request interleaves.
   */
  #open(): TokenStore {
    migrate(this.ctx.storage, TOKEN_STORE_MIGRATIONS);
    return (this.#tokenStore = new TokenStore(this.ctx.storage.sql, this.clock));
  }

  get #store(): TokenStore {
    return this.#tokenStore ?? this.#open();
  }

  /**
   * The store when this object has one, else null: before its first session and after `erase`. The
   * paths that only read or end sessions use it, so a deleted user's old token, or one made up for
   * any user id, creates no storage here (an object with storage is kept for good).
   */
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

  /**
   * A full account's refresh token lives REFRESH_TOKEN_TTL_DAYS from its issue (each rotation
   * renews it), but never past SESSION_MAX_DAYS from the session's start; guests' never expire.
   */
  #expiry(role: Role, now: number, sessionStart: number): number | null {
    if (role === "guest") return null;
    return Math.min(now + this.#config.refreshTokenTtlSeconds * 1000, sessionStart + this.#config.sessionMaxLifetimeMs);
  }

  async #pair(userId: string, sessionId: string, role: Role, user: UserRow, expiresAt: number | null, now: number): Promise<IssuedPair> {
    const refreshToken = makeRefreshToken(userId, sessionId);
    const access = await signAccessToken(this.#config, { userId, sessionId, role });
    return {
      accessToken: access.token,
      refreshToken,
      expiresIn: access.expiresIn,
      refreshExpiresIn: expiresAt === null ? null : Math.max(0, Math.floor((expiresAt - now) / 1000)),
      sessionId,
      role,
      user: publicUser(user),
    };
  }

  /** Starts a new session; when the user is at the limit, the oldest sessions are revoked. */
  async issue(input: IssueInput): Promise<IssuedPair> {
    const pair = await this.#issue(input);
    if (!pair) throw new Error("session not issued");
    return pair;
  }

  /**
   * Starts a session for a sign-in by any method, only while the account exists and is not
   * disabled and, for a password sign-in, while `passwordHash` (the hash the password was checked
   * against) is still the account's: a disable, reset or change that lands between the check and
   * this call wins, and nothing is written. Null then. The `sign_in` event, the account's last
   * sign-in time and the clearing of its failed attempts go in the same D1 batch as the session.
   */
  signIn(input: ClientInfo & { userId: string; method: SignInMethod; passwordHash?: string; role?: Role }): Promise<IssuedPair | null> {
    const guard = userMatches(this.#db, input.userId, { enabled: true, ...(input.passwordHash === undefined ? {} : { passwordHash: input.passwordHash }) });
    const { userId, method, ipAddress, userAgent } = input;
    return this.#issue({ userId, method, role: input.role ?? "user", ipAddress, userAgent }, guard);
  }

  /** With `onlyIf`, every statement of the batch is guarded by it; null when it did not hold. */
  #issue(input: IssueInput, onlyIf?: SQL): Promise<IssuedPair | null> {
    return this.#serial(async () => {
      const now = this.clock.now();
      const sessionId = crypto.randomUUID();
      const expiresAt = this.#expiry(input.role, now, now);
      const live = this.#existingStore?.liveSessionIds(now) ?? [];
      const evicted = live.slice(0, Math.max(0, live.length - this.#config.maxSessionsPerUser + 1));

      const db = this.#db;
      const row = { id: sessionId, userId: input.userId, createdAt: now, lastUsedAt: now, expiresAt, ipAddress: input.ipAddress, userAgent: input.userAgent };
      const client = { ipAddress: input.ipAddress, userAgent: input.userAgent };
      const [, inserted, , , , userRows] = await db.batch([
        input.createGuest
          ? insertGuestStatement(db, input.userId, input.createGuest.createdAt)
          : clearLoginAttemptsStatement(db, input.userId, onlyIf),
        insertWhere(db, sessions, row, onlyIf),
        db
          .update(sessions)
          .set({ revokedAt: now, revokedReason: "session_limit" })
          .where(and(inArray(sessions.id, evicted.length ? evicted : [""]), isNull(sessions.revokedAt), onlyIf)),
        activityStatement(db, { userId: input.userId, type: "sign_in", method: input.method, sessionId, client, at: now }, onlyIf),
        recordSignInStatement(db, input.userId, now, onlyIf),
        selectUserStatement(db, input.userId),
        ...evicted.map((id) => revocationEvent(db, id, "session_limit", client, now)),
      ]);
      if (inserted.meta.changes !== 1) return null;
      const user = userRows[0];
      if (!user) throw new Error("user row missing after session insert");

      const pair = await this.#pair(input.userId, sessionId, input.role, user, expiresAt, now);
      const hash = await sha256(pair.refreshToken);
      for (const id of evicted) this.#store.forget(id);
      this.#store.setRole(input.role);
      this.#store.addSession(sessionId, now, expiresAt, hash);
      return pair;
    });
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
      if (!this.#existingStore) return { ok: false, reason: "invalid" } as const;
      const row = this.#store.token(hash);
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
      const user = await this.#touch(parsed.userId, session.id, expiresAt, input, now);
      if (!user) {
        this.#store.forget(session.id);
        return { ok: false, reason: "invalid" } as const;
      }

      const pair = await this.#pair(parsed.userId, session.id, role, user, expiresAt, now);
      const nextHash = await sha256(pair.refreshToken);
      const sealed = await seal(input.token, JSON.stringify(pair));
      this.#store.advance(session.id, nextHash, sealed, expiresAt, now);
      this.#store.prune(session.id, now - this.#config.reuseWindowMs);
      return { ok: true, pair } as const;
    });
  }

  /** Revokes the session a refresh token belongs to; unknown tokens are ignored. */
  revokeToken(token: string, client?: ClientInfo, reason = "signout"): Promise<string | null> {
    return this.#serial(async () => {
      if (!parseRefreshToken(token) || !this.#existingStore) return null;
      const row = this.#store.token(await sha256(token));
      if (!row) return null;
      await this.#revoke([row.session_id], reason, this.clock.now(), client);
      return row.session_id;
    });
  }

  /**
   * Revokes the given sessions of this user, or all of them when `sessionIds` is left out, except
   * `keep`. Returns the ids that were active and are now revoked.
   */
  revokeSessions(input: { sessionIds?: string[]; keep?: string; reason: string; client?: ClientInfo | null }): Promise<string[]> {
    return this.#serial(async () => {
      const known = this.#store.liveSessionIds(this.clock.now());
      const wanted = input.sessionIds ? known.filter((id) => input.sessionIds!.includes(id)) : known;
      const targets = wanted.filter((id) => id !== input.keep);
      await this.#revoke(targets, input.reason, this.clock.now(), input.client);
      return targets;
    });
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
      await this.ctx.storage.deleteAll();
    });
  }

  /** Gives the session a fresh pair, for a new role (a guest upgraded) and its new expiry. */
  reissue(input: ClientInfo & { userId: string; sessionId: string; role: Role }): Promise<PairOutcome> {
    return this.#serial(async () => {
      const now = this.clock.now();
      const session = this.#store.session(input.sessionId);
      if (!session) return { ok: false, reason: "invalid" } as const;
      // A guest's session has no expiry and may be older than SESSION_MAX_DAYS: as a full account's,
      // its lifetime starts now, or the new pair would be expired on arrival.
      const start = session.expires_at === null ? now : session.created_at;
      const expiresAt = this.#expiry(input.role, now, start);
      const user = await this.#touch(input.userId, session.id, expiresAt, input, now);
      if (!user) return { ok: false, reason: "invalid" } as const;
      const pair = await this.#pair(user.id, session.id, input.role, user, expiresAt, now);
      const hash = await sha256(pair.refreshToken);
      // The guest's sessions now belong to a full account: they expire like one, counted from now.
      if (expiresAt !== null) this.#store.expireUnlimited(expiresAt, now);
      // No sealed pair: inside the window the old token is refused quietly, after it, it is reuse.
      this.#store.advance(session.id, hash, null, expiresAt, now);
      this.#store.setRole(input.role);
      if (expiresAt === null) return { ok: true, pair } as const;
      await this.#db
        .update(sessions)
        .set({ expiresAt })
        .where(and(eq(sessions.userId, user.id), isNull(sessions.expiresAt), isNull(sessions.revokedAt)));
      return { ok: true, pair } as const;
    });
  }

  /**
   * The D1 write of record for a rotation: the session's last use, expiry and client, as a
   * compare-and-set on a live row of an account that is not disabled, batched with the read of the
   * user. Null when the row is gone or the account disabled; a disabled account's session is ended
   * here too, in case the revocation that follows a disable (src/admin) did not happen.
   */
  async #touch(userId: string, sessionId: string, expiresAt: number | null, client: ClientInfo, now: number): Promise<UserRow | null> {
    const db = this.#db;
    const [updated, userRows] = await db.batch([
      db
        .update(sessions)
        .set({ lastUsedAt: now, expiresAt, ipAddress: client.ipAddress, userAgent: client.userAgent })
        .where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt), userMatches(db, userId, { enabled: true }))),
      selectUserStatement(db, userId),
    ]);
    const user = userRows[0] ?? null;
    if (updated.meta.changes === 1) return user;
    if (user && user.disabledAt !== null) await this.#revoke([sessionId], "disabled", now, client);
    return null;
  }

  /** Revokes the sessions and records each revocation's event in the same D1 batch. */
  async #revoke(sessionIds: string[], reason: string, now: number, client?: ClientInfo | null): Promise<void> {
    if (sessionIds.length === 0) return;
    const db = this.#db;
    await db.batch([
      db
        .update(sessions)
        .set({ revokedAt: now, revokedReason: reason })
        .where(and(inArray(sessions.id, sessionIds), isNull(sessions.revokedAt))),
      ...sessionIds.map((id) => revocationEvent(db, id, reason, client ?? null, now)),
    ]);
    for (const id of sessionIds) this.#store.forget(id);
  }
}

/** The activity event a revocation reason records (API.md §9); none for an expiry. */
function revocationType(reason: string): ActivityType | null {
  if (reason === "expired") return null;
  if (reason === "signout") return "sign_out";
  if (reason === "reuse") return "refresh_reuse_detected";
  return "session_revoked";
}

/**
 * The event of one session's revocation, for the batch that revokes it: the user id comes from
 * the session row, and the event is written only if that batch's update revoked the session now
 * (with this reason), so an already ended session records nothing.
 */
function revocationEvent(db: ReturnType<typeof drizzle>, sessionId: string, reason: string, client: ClientInfo | null, now: number) {
  const type = revocationType(reason);
  const source = sql`SELECT ${crypto.randomUUID()}, ${sessions.userId}, ${type}, NULL, ${now}, ${client?.ipAddress ?? null}, ${client?.userAgent ?? null}, ${sessions.id}
    FROM ${sessions} WHERE ${sessions.id} = ${sessionId} AND ${sessions.revokedAt} = ${now} AND ${sessions.revokedReason} = ${reason}`;
  return db.insert(activity).select(type ? source : sql`${source} AND 0`);
}
