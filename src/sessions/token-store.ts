/**
 * The refresh-token state of one user, in the SQLite storage of that user's Durable Object
 * (src/sessions/user-object.ts). Every method is synchronous SQL with no await, so each one is atomic
 * inside the object. Tables: `session_state` (live sessions and their expiry), `tokens` (the hash of
 * every token a session was given, the current one with `rotated_at` null, and for rotated ones the
 * successor's hash and, while the reuse window lasts, the successor pair sealed under the old token),
 * and `meta` (the user's role). The schema is versioned (`TOKEN_STORE_MIGRATIONS`, applied by the
 * object on first use through src/db/object-migrations.ts).
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
import type { Migration } from "../db/object-migrations";
import type { Role } from "../tokens";

/** How many rotated token hashes a session keeps, at least, for reuse detection. */
const HISTORY = 20;
/** Pruning runs once every this many rotations of a session, not on every one. */
const PRUNE_EVERY = 8;

export interface TokenRow {
  hash: string;
  session_id: string;
  rotated_at: number | null;
  successor_hash: string | null;
  successor_sealed: string | null;
  [key: string]: SqlStorageValue;
}

export interface SessionStateRow {
  id: string;
  created_at: number;
  expires_at: number | null;
  [key: string]: SqlStorageValue;
}

/**
 * The store's schema, version n at index n - 1. Append only; never edit a released step. Version 1
 * is the schema from before versioning, idempotent so objects created then adopt it as they are.
 */
export const TOKEN_STORE_MIGRATIONS: readonly Migration[] = [
  (sql) =>
    sql.exec(`
      CREATE TABLE IF NOT EXISTS session_state (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, expires_at INTEGER);
      CREATE TABLE IF NOT EXISTS tokens (
        hash TEXT PRIMARY KEY, session_id TEXT NOT NULL, issued_at INTEGER NOT NULL,
        rotated_at INTEGER, successor_hash TEXT, successor_sealed TEXT);
      CREATE INDEX IF NOT EXISTS tokens_session ON tokens (session_id, issued_at);
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `),
];

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
    const expired = this.sql
      .exec<SessionStateRow>("SELECT id FROM session_state WHERE expires_at IS NOT NULL AND expires_at <= ?", now)
      .toArray();
    for (const { id } of expired) this.forget(id);
    return this.sql.exec<SessionStateRow>("SELECT id FROM session_state ORDER BY created_at ASC").toArray().map((s) => s.id);
  }

  session(id: string): SessionStateRow | undefined {
    return this.sql.exec<SessionStateRow>("SELECT * FROM session_state WHERE id = ?", id).toArray()[0];
  }

  token(hash: string): TokenRow | undefined {
    return this.sql.exec<TokenRow>("SELECT * FROM tokens WHERE hash = ?", hash).toArray()[0];
  }

  addSession(id: string, now: number, expiresAt: number | null, tokenHash: string): void {
    this.sql.exec("INSERT INTO session_state (id, created_at, expires_at) VALUES (?, ?, ?)", id, now, expiresAt);
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
    this.sql.exec("UPDATE session_state SET expires_at = ?, created_at = ? WHERE expires_at IS NULL", expiresAt, now);
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
