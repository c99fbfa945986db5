/**
 * D1 bytes per passkey by layout of the `passkeys` table (issue 27, item 4; docs/edge-sessions.md
 * "Slice 8"), for bench/far/layouts.mjs: 5,000 accounts of one passkey each (the synthetic passkey of
 * layouts.mjs: a 32-byte credential id, a 77-byte COSE key and a 32-byte user handle, base64url, or
 * raw bytes in the BLOB layout), the pages of the table and its indexes read from SQLite's `dbstat`.
 * Each layout is also checked with EXPLAIN QUERY PLAN against the service's queries of `passkeys`
 * (QUERIES below, written as src/ sends them): a `SCAN` of the table or of a whole index is reported
 * as a full scan. The statements src/ really sends are checked on D1 itself by
 * test/passkeys/lean-layout.test.ts.
 *
 * @example
 * import { passkeyLayouts } from "./passkey-layouts.mjs";
 * for (const { name, bytes, scans } of passkeyLayouts(dir, readMigrations)) console.log(name, bytes, scans);
 */
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";

const ACCOUNTS = 5000;
const random = (n) => Buffer.from(crypto.getRandomValues(new Uint8Array(n))).toString("base64url");

/** The service's queries of `passkeys` (src/passkeys, accounts, admin, identities, deletion), parameters as `?`. */
export const QUERIES = [
  // Registration options, the list, the admin view: a user's passkeys by age.
  "SELECT * FROM passkeys WHERE user_id = ? ORDER BY created_at",
  // Registration's guard: the limit and one user handle per user; then its event's guard.
  "SELECT (SELECT COUNT(*) FROM passkeys WHERE user_id = ?) < 10 AND NOT EXISTS (SELECT 1 FROM passkeys WHERE user_id = ? AND user_handle != ?)",
  "SELECT EXISTS (SELECT 1 FROM passkeys WHERE user_id = ? AND id = ?)",
  // Rename, removal (its check, the other ways in, the event's guard, the DELETE).
  "UPDATE passkeys SET name = ? WHERE id = ? AND user_id = ?",
  "SELECT id FROM passkeys WHERE id = ? AND user_id = ?",
  "SELECT EXISTS (SELECT 1 FROM passkeys AS other WHERE other.user_id = ? AND other.id != ?)",
  "DELETE FROM passkeys WHERE id = ? AND user_id = ?",
  // Sign-in: the passkey and its owner by credential id; the counter's compare-and-set; a use with no counter.
  "SELECT user_id FROM passkeys WHERE credential_id = ?",
  "SELECT * FROM passkeys WHERE credential_id = ?",
  "SELECT EXISTS (SELECT id FROM passkeys WHERE user_id = ? AND id = ? AND sign_count = ?)",
  "UPDATE passkeys SET sign_count = ?, last_used_at = ?, backed_up = ? WHERE user_id = ? AND id = ? AND sign_count = ?",
  "UPDATE passkeys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?), backed_up = ? WHERE user_id = ? AND id = ?",
  // Re-authentication's ways in, identities' and guests' checks, deletion and a proven address.
  "SELECT count(*) FROM passkeys WHERE user_id = ? AND id != ?",
  "SELECT EXISTS (SELECT 1 FROM passkeys WHERE user_id = ?)",
  "DELETE FROM passkeys WHERE user_id = ?",
];

const columns = (binary = "TEXT") => `id TEXT NOT NULL, user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE, credential_id ${binary} NOT NULL,
  public_key ${binary} NOT NULL, sign_count INTEGER NOT NULL, transports TEXT, user_handle ${binary} NOT NULL, backed_up INTEGER NOT NULL,
  name TEXT NOT NULL, created_at INTEGER NOT NULL, last_used_at INTEGER`;
const COLUMNS = columns();
const USERS = "CREATE TABLE users (id TEXT PRIMARY KEY NOT NULL, is_guest INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);";
const CREDENTIAL = "CREATE UNIQUE INDEX passkeys_credential_id_unique ON passkeys (credential_id);";
const USER = "CREATE INDEX passkeys_user_idx ON passkeys (user_id);";

/** Candidate layouts, name → DDL after a minimal `users` (the service's own are measured from its migrations). */
export const CANDIDATES = {
  "rowid, id PRIMARY KEY, credential, user and user-handle indexes (before: migrations 0001-0005)": null,
  "the same without the user-handle index": `${USERS} CREATE TABLE passkeys (${COLUMNS}, PRIMARY KEY (id)); ${CREDENTIAL} ${USER}`,
  "rowid, no key on id, credential and user indexes (built: migration 0006)": null,
  "rowid, no key on id, credential index, UNIQUE (user_id, id)": `${USERS} CREATE TABLE passkeys (${COLUMNS}); ${CREDENTIAL} CREATE UNIQUE INDEX u ON passkeys (user_id, id);`,
  "WITHOUT ROWID keyed by id, credential and user indexes": `${USERS} CREATE TABLE passkeys (${COLUMNS}, PRIMARY KEY (id)) WITHOUT ROWID; ${CREDENTIAL} ${USER}`,
  "WITHOUT ROWID keyed by (user_id, id), credential index": `${USERS} CREATE TABLE passkeys (${COLUMNS}, PRIMARY KEY (user_id, id)) WITHOUT ROWID; ${CREDENTIAL}`,
  "WITHOUT ROWID keyed by credential id, user index": `${USERS} CREATE TABLE passkeys (${COLUMNS}, PRIMARY KEY (credential_id)) WITHOUT ROWID; ${USER}`,
  // Not built: every reader and writer would change, and SQLite has no base64 decoder to convert the rows.
  "migration 0006's layout with BLOB credential id, COSE key and user handle (reference)": `${USERS} CREATE TABLE passkeys (${columns("BLOB")}); ${CREDENTIAL} ${USER}`,
};

/**
 * Every layout of CANDIDATES, measured in `dir`: `{ name, bytes, scans }`, bytes per passkey of the
 * table and its indexes, scans the QUERIES that read a whole table or index. `migrations(upTo)`
 * returns the service's migration SQL up to that file name prefix ("0005") or all (undefined): the
 * `null` entries are built from it (before: up to 0005; built: all).
 */
export function passkeyLayouts(dir, migrations) {
  return Object.entries(CANDIDATES).map(([name, ddl], i) => {
    const db = new DatabaseSync(join(dir, `passkeys-${i}.sqlite`));
    db.exec(ddl ?? migrations(name.includes("before") ? "0005" : undefined));
    const bytes = (n) => (name.includes("BLOB") ? crypto.getRandomValues(new Uint8Array(n)) : random(n));
    const user = db.prepare("insert into users (id, is_guest, created_at, updated_at) values (?, 0, ?, ?)");
    const passkey = db.prepare("insert into passkeys (id, user_id, credential_id, public_key, sign_count, transports, user_handle, backed_up, name, created_at) values (?, ?, ?, ?, 0, '[\"internal\",\"hybrid\"]', ?, 1, 'Chrome on Linux', ?)");
    db.exec("BEGIN");
    let t = 1.76e12;
    for (let k = 0; k < ACCOUNTS; k++) {
      t += 1000;
      const id = crypto.randomUUID();
      user.run(id, t, t);
      passkey.run(crypto.randomUUID(), id, bytes(32), bytes(77), bytes(32), t);
    }
    db.exec("COMMIT");
    const pages = db.prepare("select sum(s.pgsize) as bytes from dbstat s join sqlite_master m on m.name = s.name where m.tbl_name = 'passkeys'").get();
    const scans = QUERIES.filter((q) => db.prepare(`EXPLAIN QUERY PLAN ${q}`).all().some((step) => /^SCAN (passkeys|other)\b/.test(step.detail)));
    db.close();
    return { name, bytes: Math.round(pages.bytes / ACCOUNTS), scans };
  });
}
