/**
 * D1 bytes per account at scale, by layout (issue 27, item 4; docs/edge-sessions.md "Slice 7"): the
 * service's migrations applied to a fresh SQLite file (node:sqlite: before slice 9, up to migration
 * 0006, and all of them, rows as slice 9 writes them), 5,000 synthetic full accounts
 * inserted (a user with email and password hash, three sessions with a browser's user agent, one
 * passkey), and SQLite's `dbstat` read per table and index; then the candidate layouts of a session
 * in D1 once the sessions move (an index of live sessions, session id → user id), and of the
 * `passkeys` table (./passkey-layouts.mjs: bytes per passkey, and each layout's full scans among the
 * service's queries). Page-exact at this scale, unlike the 30 accounts of the capacity step. Offline,
 * about 10 s.
 *
 * @example
 * npx node bench/far/layouts.mjs
 */
import { readFileSync, readdirSync, rmSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { passkeyLayouts, QUERIES } from "./passkey-layouts.mjs";

const ACCOUNTS = 5000;
const SESSIONS = 3;
const UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const dir = mkdtempSync(join(tmpdir(), "layouts-"));
/** The service's migrations as one script: all, or those up to a file name prefix ("0005"). */
const migrationsUpTo = (upTo) =>
  readdirSync("migrations").filter((f) => f.endsWith(".sql") && (!upTo || f.slice(0, upTo.length) <= upTo)).sort().map((f) => readFileSync(join("migrations", f), "utf8")).join("\n").split("--> statement-breakpoint").join("\n");
const migrations = migrationsUpTo();
const random = (n) => Buffer.from(crypto.getRandomValues(new Uint8Array(n))).toString("base64url");

/** Bytes per account of the named tables (pages of each table and its indexes) in `db`. */
function perAccount(db, tables) {
  const rows = db.prepare("select coalesce(m.tbl_name, s.name) as tbl, sum(s.pgsize) as bytes from dbstat s left join sqlite_master m on m.name = s.name group by tbl").all();
  return Object.fromEntries(tables.map((t) => [t, Math.round((rows.find((r) => r.tbl === t)?.bytes ?? 0) / ACCOUNTS)]));
}

/**
 * The service's schema (its migrations, all or up to `upTo`), with or without the client in the
 * session rows; `slice9`: rows as slice 9 writes them (no last use; the id begins with its user's
 * first 8 hex digits), inserted in random order as sign-ins arrive (a user's sessions at different times).
 */
function service(withClient, upTo, slice9 = false) {
  const file = join(dir, `service-${withClient}-${upTo}-${slice9}.sqlite`);
  const db = new DatabaseSync(file);
  db.exec(upTo ? migrationsUpTo(upTo) : migrations);
  const user = db.prepare("insert into users (id, email, email_normalized, password_hash, is_guest, email_verified_at, created_at, updated_at, last_sign_in_at) values (?, ?, ?, ?, 0, ?, ?, ?, ?)");
  const session = db.prepare("insert into sessions (id, user_id, created_at, last_used_at, expires_at, ip_address, user_agent, aal, amr, auth_time) values (?, ?, ?, ?, ?, ?, ?, 'aal1', 'password', ?)");
  const passkey = db.prepare("insert into passkeys (id, user_id, credential_id, public_key, sign_count, transports, user_handle, backed_up, name, created_at) values (?, ?, ?, ?, 0, '[\"internal\",\"hybrid\"]', ?, 1, 'Chrome on Linux', ?)");
  db.exec("BEGIN");
  let t = 1.76e12;
  const sessionRows = [];
  for (let i = 0; i < ACCOUNTS; i++) {
    t += 1000;
    const id = crypto.randomUUID();
    const email = `user${i}.${random(4)}@example.com`;
    user.run(id, email, email, `pbkdf2-sha256$100000$${random(16)}$${random(32)}`, t, t, t, t);
    for (let k = 0; k < SESSIONS; k++) sessionRows.push([slice9 ? id.slice(0, 8) + crypto.randomUUID().slice(8) : crypto.randomUUID(), id, t, slice9 ? null : t, t + 30 * 86_400_000, withClient ? "203.0.113.7" : null, withClient ? UA : null, t]);
    passkey.run(crypto.randomUUID(), id, random(32), random(77), random(32), t);
  }
  // A user's sessions start at different times: rows arrive in no order of the key.
  for (let i = sessionRows.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [sessionRows[i], sessionRows[j]] = [sessionRows[j], sessionRows[i]];
  }
  for (const row of sessionRows) session.run(...row);
  db.exec("COMMIT");
  const bytes = perAccount(db, ["users", "sessions", "passkeys"]);
  db.close();
  return bytes;
}

/** An index of live sessions alone, in the given layout. */
function index(name, ddl, blob) {
  const db = new DatabaseSync(join(dir, `${name}.sqlite`));
  db.exec(ddl);
  const insert = db.prepare("insert into live_sessions values (?, ?)");
  const key = (uuid) => (blob ? Buffer.from(uuid.replace(/-/g, ""), "hex") : uuid);
  db.exec("BEGIN");
  for (let i = 0; i < ACCOUNTS; i++) {
    const user = crypto.randomUUID();
    for (let k = 0; k < SESSIONS; k++) insert.run(key(crypto.randomUUID()), key(user));
  }
  db.exec("COMMIT");
  const bytes = perAccount(db, ["live_sessions"]).live_sessions;
  db.close();
  return bytes;
}

const withClient = service(true, "0006");
const withoutClient = service(false, "0006");
const clustered = service(false, undefined, true);
const layouts = {
  "rowid + user_id index": index("rowid", "CREATE TABLE live_sessions (id TEXT PRIMARY KEY NOT NULL, user_id TEXT NOT NULL); CREATE INDEX live_sessions_user ON live_sessions (user_id);", false),
  "WITHOUT ROWID, text ids": index("text", "CREATE TABLE live_sessions (id TEXT PRIMARY KEY NOT NULL, user_id TEXT NOT NULL) WITHOUT ROWID;", false),
  "WITHOUT ROWID keyed by (user_id, id), text ids (every per-user query indexed)": index("text-clustered", "CREATE TABLE live_sessions (id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (user_id, id)) WITHOUT ROWID;", false),
  "WITHOUT ROWID, text ids, with a user_id index": index("text-user", "CREATE TABLE live_sessions (id TEXT PRIMARY KEY NOT NULL, user_id TEXT NOT NULL) WITHOUT ROWID; CREATE INDEX live_sessions_user ON live_sessions (user_id);", false),
  "WITHOUT ROWID, 16-byte BLOB ids": index("blob", "CREATE TABLE live_sessions (id BLOB PRIMARY KEY NOT NULL, user_id BLOB NOT NULL) WITHOUT ROWID;", true),
  // Slice 8's question: keep every per-user query indexed at less cost (8 characters of the user id)?
  "rowid, text ids, an index on substr(user_id, 1, 8)": index("prefix", "CREATE TABLE live_sessions (id TEXT PRIMARY KEY NOT NULL, user_id TEXT NOT NULL); CREATE INDEX live_sessions_user ON live_sessions (substr(user_id, 1, 8));", false),
  "WITHOUT ROWID, text ids, an index on substr(user_id, 1, 8)": index("prefix-wr", "CREATE TABLE live_sessions (id TEXT PRIMARY KEY NOT NULL, user_id TEXT NOT NULL) WITHOUT ROWID; CREATE INDEX live_sessions_user ON live_sessions (substr(user_id, 1, 8));", false),
};
const passkeys = passkeyLayouts(dir, migrationsUpTo);
rmSync(dir, { recursive: true, force: true });
console.log(`D1 bytes per account at scale (${ACCOUNTS} accounts, ${SESSIONS} sessions and one passkey each; SQLite dbstat pages):`);
console.log(`  before slice 7, with a browser's client: users ${withClient.users}, sessions ${withClient.sessions} (${Math.round(withClient.sessions / SESSIONS)} a session), passkeys ${withClient.passkeys}: ${withClient.users + withClient.sessions + withClient.passkeys}`);
console.log(`  sessions with no client (slice 7):       users ${withoutClient.users}, sessions ${withoutClient.sessions} (${Math.round(withoutClient.sessions / SESSIONS)} a session), passkeys ${withoutClient.passkeys}: ${withoutClient.users + withoutClient.sessions + withoutClient.passkeys}`);
console.log(`  keyed by (user_id, id), WITHOUT ROWID (slice 9, built): users ${clustered.users}, sessions ${clustered.sessions} (${Math.round(clustered.sessions / SESSIONS)} a session), passkeys ${clustered.passkeys}: ${clustered.users + clustered.sessions + clustered.passkeys}`);
for (const [name, bytes] of Object.entries(layouts)) {
  console.log(`  an index of live sessions, ${name}: ${bytes} (${Math.round(bytes / SESSIONS)} a session): with users and passkey ${withoutClient.users + bytes + withoutClient.passkeys}`);
}
console.log(`D1 bytes per passkey by layout of \`passkeys\` (${ACCOUNTS} passkeys; full scans among the service's ${QUERIES.length} queries of it):`);
for (const { name, bytes, scans } of passkeys) {
  console.log(`  ${name}: ${bytes}${scans.length ? `; FULL SCANS: ${scans.join(" | ")}` : "; every query indexed"}`);
}
