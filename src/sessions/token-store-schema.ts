/**
 * The schema of a user's token store (src/sessions/token-store.ts), in its Durable Object's SQLite
 * storage: the rows' shapes and `TOKEN_STORE_MIGRATIONS`, the versioned steps the object applies on
 * first use (src/db/object-migrations.ts). STORAGE.md "UserSessions" describes every table.
 *
 * @example
 * migrate(ctx.storage, TOKEN_STORE_MIGRATIONS); // then new TokenStore(ctx.storage.sql, clock)
 */
import type { Migration } from "../db/object-migrations";
import { ACTIVITY_LOG_SCHEMA } from "../activity/object-log";
import { SPENT_PROOFS_SCHEMA } from "./spent-proofs";

/** A token a session was given: the current one has `rotated_at` null; a rotated one names its successor. */
export interface TokenRow {
  hash: string;
  session_id: string;
  rotated_at: number | null;
  successor_hash: string | null;
  successor_sealed: string | null;
  [key: string]: SqlStorageValue;
}

/**
 * A session the user's object holds. From version 2 (issue 27, slice 2) it also keeps what a refresh needs
 * without D1: `checked_epoch`, the change epoch at which D1 last vouched the session live (null:
 * never; see `ProfileCache`), the session's assurance (API.md §15: `aal`, `amr` space-separated,
 * `auth_time` ms; of record here when D1's row records none, as for a session held from its sign-in
 * since slice 9; else a vouched mark's copy of D1's: src/sessions/vouch.ts `assuranceOf`), its last
 * use and client (of record here: since slice 7 D1's row of a held session keeps neither), `d1_expires_at`, the expiry D1's row holds (ms; never earlier than `expires_at`), and
 * `signed_in_at`, the session's start as D1 records it (`created_at` restarts when a guest upgrades).
 */
export interface SessionStateRow {
  id: string;
  created_at: number;
  expires_at: number | null;
  checked_epoch: number | null;
  d1_expires_at: number | null;
  last_used_at: number | null;
  ip_address: string | null;
  user_agent: string | null;
  aal: string | null;
  amr: string | null;
  auth_time: number | null;
  signed_in_at: number | null;
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
  // Version 2 (issue 27, slice 2): what a refresh needs to answer without D1. Sessions held before
  // it have nulls here, so their next refresh makes one D1 trip and fills them.
  (sql) =>
    sql.exec(`
      ALTER TABLE session_state ADD COLUMN checked_epoch INTEGER;
      ALTER TABLE session_state ADD COLUMN d1_expires_at INTEGER;
      ALTER TABLE session_state ADD COLUMN last_used_at INTEGER;
      ALTER TABLE session_state ADD COLUMN ip_address TEXT;
      ALTER TABLE session_state ADD COLUMN user_agent TEXT;
      ALTER TABLE session_state ADD COLUMN aal TEXT;
      ALTER TABLE session_state ADD COLUMN amr TEXT;
      ALTER TABLE session_state ADD COLUMN auth_time INTEGER;
      ALTER TABLE session_state ADD COLUMN signed_in_at INTEGER;
    `),
  // Version 3 (issue 27, slice 3): the D1 writes a sign-in started here still owes D1 (src/sessions/outbox.ts).
  (sql) => sql.exec("CREATE TABLE IF NOT EXISTS d1_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, json TEXT NOT NULL)"),
  // Version 4 (issue 27, slice 5): the user's security activity (API.md §9), src/activity/object-log.ts.
  (sql) => sql.exec(ACTIVITY_LOG_SCHEMA),
  // Version 5 (issue 27, slice 6): single-use proofs spent here (email codes), src/sessions/spent-proofs.ts.
  (sql) => sql.exec(SPENT_PROOFS_SCHEMA),
];
