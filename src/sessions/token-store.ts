/**
 * The refresh-token state of one user, in the SQLite storage of that user's Durable Object
 * (src/sessions/user-object.ts). Every method is synchronous SQL with no await, so each one is atomic
 * inside the object. Tables: `session_state` (live sessions and their expiry), `tokens` (the hash of
 * every token a session was given, the current one with `rotated_at` null, and for rotated ones the
 * successor's hash and, while the reuse window lasts, the successor pair sealed under the old token),
 * and `meta` (the user's role). The schema is versioned (`TOKEN_STORE_MIGRATIONS`, src/sessions/token-store-schema.ts,
 * applied by the object on first use through src/db/object-migrations.ts).
 *
 * Time comes from an injected `Clock`, so tests move an object's time forward instead of editing
 * its rows; every method that depends on time takes the instant of its operation as `now`.
 *
 * @example
 * migrate(ctx.storage, TOKEN_STORE_MIGRATIONS);
 * const store = new TokenStore(ctx.storage.sql, systemClock());
 * store.addSession(sessionId, store.now(), null, await sha256(refreshToken));
 * store.token(await sha256(presented)); // TokenRow | undefined
 */
import type { Assurance, Role } from "../tokens";
import type { PublicUser } from "../types";
import type { SessionStateRow, TokenRow } from "./token-store-schema";

export { TOKEN_STORE_MIGRATIONS } from "./token-store-schema";
export type { SessionStateRow, TokenRow } from "./token-store-schema";

/** How many rotated token hashes a session keeps, at least, for reuse detection. */
const HISTORY = 20;
/** Pruning runs once every this many rotations of a session, not on every one. */
const PRUNE_EVERY = 8;

/**
 * An enabled account's facts a sign-in started in the object is checked against: its public user
 * (`isGuest`, `mfaEnabled`: API.md §15) and `passwordFp`, the SHA-256 (hex) of its stored password
 * hash string (null: no password), so the object never keeps the hash itself.
 */
export interface SignInGuard {
  user: PublicUser;
  passwordFp: string | null;
}

/** Milliseconds since the epoch, as the store's owner sees them. */
export interface Clock {
  now(): number;
}

/** The real clock. A fresh object per store, so a test may replace `now` on one store's clock. */
export const systemClock = (): Clock => ({ now: () => Date.now() });

export class TokenStore {
  /** The role, read once per instance: only setRole changes it. */
  #role: Role | undefined;
  readonly #rotations = new Map<string, number>();

  /** Expects the schema of TOKEN_STORE_MIGRATIONS to be in place. */
  constructor(
    private readonly sql: SqlStorage,
    readonly clock: Clock = systemClock(),
  ) {}

  /** The current instant by the injected clock, in ms. */
  now(): number {
    return this.clock.now();
  }

  role(): Role {
    if (!this.#role) {
      const row = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'role'").toArray()[0];
      this.#role = row?.value === "user" ? "user" : "guest";
    }
    return this.#role;
  }

  setRole(role: Role): void {
    if (role === this.#role) return;
    this.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('role', ?)", role);
    this.#role = role;
  }

  /** Live session ids, oldest first, after forgetting the expired ones. */
  liveSessionIds(now: number): string[] {
    for (const id of this.expiredSessionIds(now)) this.forget(id);
    return this.sql.exec<SessionStateRow>("SELECT id FROM session_state ORDER BY created_at ASC").toArray().map((s) => s.id);
  }

  session(id: string): SessionStateRow | undefined {
    return this.sql.exec<SessionStateRow>("SELECT * FROM session_state WHERE id = ?", id).toArray()[0];
  }

  token(hash: string): TokenRow | undefined {
    return this.sql.exec<TokenRow>("SELECT * FROM tokens WHERE hash = ?", hash).toArray()[0];
  }

  /**
   * Holds a session from its first token's hash. `seen`: what D1's row says of it (its expiry there,
   * last use and client), for the sessions list, or what a sign-in started here will write there;
   * with `assurance` (a session this object holds from its sign-in, issue 27 slice 9) the store is
   * of record for it (`setAssurance`), and D1's row keeps none.
   */
  addSession(id: string, now: number, expiresAt: number | null, tokenHash: string, seen?: { d1ExpiresAt: number | null; lastUsedAt: number; ipAddress: string | null; userAgent: string | null; assurance?: Assurance }): void {
    const assurance = seen?.assurance;
    this.sql.exec(
      "INSERT INTO session_state (id, created_at, expires_at, signed_in_at, d1_expires_at, last_used_at, ip_address, user_agent, aal, amr, auth_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      id, now, expiresAt, now, seen?.d1ExpiresAt ?? null, seen?.lastUsedAt ?? null, seen?.ipAddress ?? null, seen?.userAgent ?? null,
      assurance?.aal ?? null, assurance ? assurance.amr.join(" ") : null, assurance ? assurance.authTime * 1000 : null,
    );
    this.sql.exec("INSERT INTO tokens (hash, session_id, issued_at) VALUES (?, ?, ?)", tokenHash, id, now);
  }

  /**
   * Makes `nextHash` the session's current token. The previous current token records it as its
   * successor; `sealed` (the pair, sealed under the previous token) lets a repeat inside the reuse
   * window get the same pair, and is null when no repeat may get one.
   */
  advance(sessionId: string, nextHash: string, sealed: string | null, expiresAt: number | null, now: number): void {
    this.sql.exec(
      "UPDATE tokens SET rotated_at = ?, successor_hash = ?, successor_sealed = ? WHERE session_id = ? AND rotated_at IS NULL",
      now, nextHash, sealed, sessionId,
    );
    this.sql.exec("INSERT INTO tokens (hash, session_id, issued_at) VALUES (?, ?, ?)", nextHash, sessionId, now);
    this.sql.exec("UPDATE session_state SET expires_at = ? WHERE id = ?", expiresAt, sessionId);
  }

  /**
   * Gives sessions with no expiry (a guest's) the expiry of a full account, and restarts their
   * lifetime (`created_at`, from which SESSION_MAX_DAYS counts) at `now`.
   */
  expireUnlimited(expiresAt: number, now: number): void {
    this.sql.exec("UPDATE session_state SET expires_at = ?1, d1_expires_at = ?1, created_at = ?2 WHERE expires_at IS NULL", expiresAt, now);
  }

  /** The change epoch this store recorded last (null: none yet, a new store): see `ProfileCache`. */
  epoch(): number | null {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'epoch'").toArray()[0];
    return row ? Number(row.value) : null;
  }

  /** Records the change epoch (`ProfileCache.attach` calls it at every bump once the store is open). */
  setEpoch(epoch: number): void {
    this.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('epoch', ?)", String(epoch));
  }

  /** The public user D1 showed at change epoch `epoch`, or undefined when it was read at another one. */
  profile(epoch: number): PublicUser | undefined {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'profile'").toArray()[0];
    if (!row) return undefined;
    const kept = JSON.parse(row.value) as { epoch: number; user: PublicUser };
    return kept.epoch === epoch ? kept.user : undefined;
  }

  /**
   * Sets a held session's assurance (API.md §15; `auth_time` kept in ms): a step-up of a session whose
   * assurance this store holds of record (D1's row records none: `assuranceOf`, src/sessions/vouch.ts).
   */
  setAssurance(sessionId: string, assurance: Assurance): void {
    this.sql.exec("UPDATE session_state SET aal = ?, amr = ?, auth_time = ? WHERE id = ?", assurance.aal, assurance.amr.join(" "), assurance.authTime * 1000, sessionId);
  }

  /**
   * Records that D1 vouched, at change epoch `epoch`, for the session (live, the account enabled),
   * the expiry D1 holds for it, and the account's public fields; and the session's assurance: the
   * store's own when it holds it (`heldAssurance`, src/sessions/vouch.ts), else D1's, copied here.
   */
  markChecked(sessionId: string, epoch: number, seen: { user: PublicUser; assurance: Assurance; d1ExpiresAt: number | null }): void {
    const { aal, amr, authTime } = seen.assurance;
    this.sql.exec(
      "UPDATE session_state SET checked_epoch = ?, d1_expires_at = ?, aal = ?, amr = ?, auth_time = ? WHERE id = ?",
      epoch, seen.d1ExpiresAt, aal, amr.join(" "), authTime * 1000, sessionId,
    );
    this.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('profile', ?)", JSON.stringify({ epoch, user: seen.user }));
  }

  /**
   * What a sign-in's guard needs of the account as D1 showed it at change epoch `epoch`
   * (src/sessions/session-start.ts), or undefined when it was read at another epoch.
   */
  guard(epoch: number): SignInGuard | undefined {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'guard'").toArray()[0];
    const kept = row ? (JSON.parse(row.value) as SignInGuard & { epoch: number }) : undefined;
    return kept?.epoch === epoch ? { user: kept.user, passwordFp: kept.passwordFp } : undefined;
  }

  /** Records the account's guard facts as D1 showed them at change epoch `epoch` (an enabled account). */
  setGuard(epoch: number, guard: SignInGuard): void {
    this.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('guard', ?)", JSON.stringify({ epoch, ...guard }));
  }

  /**
   * Moves what D1 vouched for at change epoch `from` to epoch `to`: the sessions' marks, the profile,
   * the guard and completeness. Only for a change this object made itself and knows in full (its own
   * revocation, the ended sessions already forgotten), with no other change overlapping it: nothing
   * else D1 would answer moved.
   */
  carryForward(from: number, to: number): void {
    this.sql.exec("UPDATE session_state SET checked_epoch = ? WHERE checked_epoch = ?", to, from);
    for (const key of ["profile", "guard"]) {
      const row = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0];
      const kept = row ? (JSON.parse(row.value) as { epoch: number }) : undefined;
      if (kept?.epoch === from) this.sql.exec("UPDATE meta SET value = ? WHERE key = ?", JSON.stringify({ ...kept, epoch: to }), key);
    }
    if (this.completeAt() === from) this.setCompleteAt(to);
  }

  /** Records a use of the session (a refresh): when (ms) and from which client. */
  recordUse(sessionId: string, now: number, client: { ipAddress: string | null; userAgent: string | null }): void {
    this.sql.exec("UPDATE session_state SET last_used_at = ?, ip_address = ?, user_agent = ? WHERE id = ?", now, client.ipAddress, client.userAgent, sessionId);
  }

  /** The ids of sessions held past their own expiry at `now` (ms), not forgotten yet. */
  expiredSessionIds(now: number): string[] {
    return this.sql.exec<SessionStateRow>("SELECT id FROM session_state WHERE expires_at IS NOT NULL AND expires_at <= ?", now).toArray().map((s) => s.id);
  }

  /** The change epoch at which this store held every live session of the user (D1 listed), or null. */
  completeAt(): number | null {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'complete_epoch'").toArray()[0];
    return row ? Number(row.value) : null;
  }

  /** Records that the store holds every live session of the user as of change epoch `epoch`. */
  setCompleteAt(epoch: number): void {
    this.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('complete_epoch', ?)", String(epoch));
  }

  /** Every session held, live or not (the caller filters by expiry). */
  sessions(): SessionStateRow[] {
    return this.sql.exec<SessionStateRow>("SELECT * FROM session_state").toArray();
  }

  forget(sessionId: string): void {
    this.#rotations.delete(sessionId);
    this.sql.exec("DELETE FROM tokens WHERE session_id = ?", sessionId);
    this.sql.exec("DELETE FROM session_state WHERE id = ?", sessionId);
  }

  /**
   * Keeps at least the last HISTORY hashes of a session, and sealed pairs only while they can be
   * used (refresh ignores older ones anyway). Runs every PRUNE_EVERY rotations of this instance.
   */
  prune(sessionId: string, sealedBefore: number): void {
    const rotations = (this.#rotations.get(sessionId) ?? 0) + 1;
    this.#rotations.set(sessionId, rotations % PRUNE_EVERY);
    if (rotations < PRUNE_EVERY) return;
    this.sql.exec(
      `DELETE FROM tokens WHERE session_id = ?1 AND hash NOT IN
         (SELECT hash FROM tokens WHERE session_id = ?1 ORDER BY issued_at DESC LIMIT ?2)`,
      sessionId, HISTORY,
    );
    this.sql.exec("UPDATE tokens SET successor_sealed = NULL WHERE successor_sealed IS NOT NULL AND rotated_at < ?", sealedBefore);
  }
}
