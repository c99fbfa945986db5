/**
 * The capacity step's bytes at scale (bench/far/capacity.mjs): with a few dozen accounts a table's
 * pages are counted a handful at a time, so small tables look bigger per account than they are.
 * `replicate` copies the rows that the step's accounts left in the given tables (the ones kept past
 * a day) `copies` times, read from the persisted D1 file (read-only) and inserted through the bench
 * entry's `POST /__bench/rows` (bench/far/entry.ts: the service's own D1, so the file stays the
 * Worker's). In each copy every UUID in any text (ids, foreign keys, the ids inside an event's JSON)
 * is replaced by a fresh random UUID, the same old UUID by the same new one, so foreign keys point
 * at the copy's own user (a UUID that begins with an earlier one's 8 hex digits, a session's id with
 * its user's, keeps the new one's); the keys in `FRESH` (addresses, passkey credential ids and handles, an
 * identity's subject) by a fresh unique value of the same length and form (each digit, lower- and
 * upper-case letter by a random one of its class; an address keeps its domain), wherever they occur
 * (the address in an event's JSON too); every BLOB (a passkey's credential id, key and handle, since
 * issue 27's slice 10) by fresh random bytes of its length, the same old value by the same new one
 * in a copy (sent as `{ hex }`). An `INTEGER PRIMARY KEY` (events.sequence) is left to SQLite.
 * Copies go in random key order, as new accounts do, `COPIES_PER_REQUEST` copies per D1 batch, users
 * first (foreign keys are enforced).
 *
 * @example
 * import { replicate } from "./scale.mjs";
 * const copied = await replicate(agent, "http://127.0.0.1:8802", file, accounts.map((a) => a.id), ["users", "sessions"], 99);
 * copied.replicated; // 2970 accounts added; copied.rowsPerAccount.sessions === 3
 */
import { randomBytes, randomInt, randomUUID } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { send } from "../driver.mjs";

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
/** Columns, beyond the UUIDs, whose values are unique or indexed keys: fresh in each copy. */
const FRESH = { users: ["email", "email_normalized", "username", "username_normalized"], passkeys: ["credential_id", "user_handle"], identities: ["subject", "email"] };
const CLASSES = ["0123456789", "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"];
const COPIES_PER_REQUEST = 10;

/** The SQL condition selecting the rows an account set (`?1`, a JSON array of user ids) left in `table`. */
function owned(table, columns) {
  if (table === "users") return "id in (select value from json_each(?1))";
  if (columns.includes("user_id")) return "user_id in (select value from json_each(?1))";
  if (table === "events") return "exists (select 1 from json_each(?1) j where instr(data, j.value) > 0)";
  if (table === "event_deliveries") return `event_id in (select id from events where ${owned("events", [])})`;
  throw new Error(`capacity at scale: no rule for the rows an account leaves in ${table}`);
}

/** Each table's columns (an INTEGER PRIMARY KEY, SQLite's rowid, left out) and the accounts' rows, as arrays. */
function readRows(file, userIds, tables) {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return tables.map((table) => {
      const info = db.prepare(`pragma table_info("${table}")`).all();
      const rowid = info.filter((c) => c.pk > 0).length === 1 ? info.find((c) => c.pk > 0 && c.type.toLowerCase() === "integer")?.name : undefined;
      const columns = info.map((c) => c.name).filter((name) => name !== rowid);
      const all = info.map((c) => c.name);
      // A WITHOUT ROWID table (sessions, since slice 9) has no rowid: its key orders it.
      const ddl = db.prepare("select sql from sqlite_master where type = 'table' and name = ?").get(table)?.sql ?? "";
      const key = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => `"${c.name}"`);
      const order = /WITHOUT\s+ROWID\s*$/i.test(ddl) ? key.join(", ") : "rowid";
      const rows = db.prepare(`select ${columns.map((c) => `"${c}"`).join(", ")} from "${table}" where ${owned(table, all)} order by ${order}`).all(JSON.stringify(userIds));
      const value = (v) => (v instanceof Uint8Array ? { hex: Buffer.from(v).toString("hex") } : v);
      return { table, columns, rows: rows.map((row) => columns.map((c) => value(row[c]))) };
    });
  } finally {
    db.close();
  }
}

/** A value of the same length and form: each digit, lower- and upper-case letter a random one of its class; an address keeps its domain. */
function sameForm(value) {
  const at = value.lastIndexOf("@");
  const [head, tail] = at > 0 ? [value.slice(0, at), value.slice(at)] : [value, ""];
  const swap = (ch) => {
    const cls = CLASSES.find((c) => c.includes(ch));
    return cls ? cls[randomInt(cls.length)] : ch;
  };
  return [...head].map(swap).join("") + tail;
}

/** The FRESH values in the rows, each with a function giving a new unique one (unique against the originals and every one given before). */
function freshKeys(source) {
  const originals = new Set();
  for (const { table, columns, rows } of source) {
    const at = (FRESH[table] ?? []).map((c) => columns.indexOf(c)).filter((i) => i >= 0);
    for (const row of rows) for (const i of at) if (typeof row[i] === "string" && row[i] !== "") originals.add(row[i]);
  }
  const taken = new Set(originals);
  const next = (value) => {
    for (let attempt = 0; attempt < 10; attempt++) {
      const candidate = sameForm(value);
      if (!taken.has(candidate)) return taken.add(candidate), candidate;
    }
    throw new Error(`capacity at scale: no fresh value of the form of ${value}`);
  };
  return { originals: [...originals], next };
}

/** One copy of every row: fresh UUIDs (the same old one → the same new one) and fresh keys. */
function copyRows(source, keys) {
  const uuids = new Map();
  const renames = keys.originals.map((old) => [old, keys.next(old)]);
  // An id that begins with an earlier id's first 8 hex digits (a session's with its user's, since
  // issue 27's slice 9: src/sessions/owner.ts; users are copied first) keeps the copy's prefix.
  const prefixes = new Map();
  const freshUuid = (old) => {
    const head = old.slice(0, 8).toLowerCase();
    const fresh = prefixes.has(head) ? prefixes.get(head) + randomUUID().slice(8) : randomUUID();
    if (!prefixes.has(head)) prefixes.set(head, fresh.slice(0, 8));
    return fresh;
  };
  const blobs = new Map();
  const rename = (value) => {
    if (value !== null && typeof value === "object") {
      if (!blobs.has(value.hex)) blobs.set(value.hex, randomBytes(value.hex.length / 2).toString("hex"));
      return { hex: blobs.get(value.hex) };
    }
    if (typeof value !== "string") return value;
    let out = value.replace(UUID, (old) => uuids.get(old) ?? (uuids.set(old, freshUuid(old)), uuids.get(old)));
    for (const [old, fresh] of renames) if (out.includes(old)) out = out.split(old).join(fresh);
    return out;
  };
  return source.map(({ rows }) => rows.map((row) => row.map(rename)));
}

/**
 * Copies the rows that the accounts `userIds` left in `tables`, `copies` times, into the service at
 * `url` (bench/far/entry.ts `POST /__bench/rows`), reading them from the D1 file `file`. Returns
 * `{ copies, replicated (accounts added), rowsPerAccount: { table: rows } (of the originals), inserted: { table: rows } }`.
 * Throws on a table with no rule for its rows, or when the service inserts fewer rows than sent.
 */
export async function replicate(agent, url, file, userIds, tables, copies) {
  // Parents before the rows whose foreign keys point at them.
  const rank = (t) => (t === "users" ? 0 : t === "event_deliveries" ? 2 : 1);
  const source = readRows(file, userIds, [...tables].sort((a, b) => rank(a) - rank(b)));
  const keys = freshKeys(source);
  const inserted = Object.fromEntries(tables.map((t) => [t, 0]));
  for (let done = 0; done < copies; done += COPIES_PER_REQUEST) {
    const batch = Array.from({ length: Math.min(COPIES_PER_REQUEST, copies - done) }, () => copyRows(source, keys));
    const body = { tables: source.map(({ table, columns }, t) => ({ table, columns, rows: batch.flatMap((copy) => copy[t]) })) };
    const res = await send(agent, url, { method: "POST", path: "/__bench/rows", body });
    if (res.status !== 200) throw new Error(`POST /__bench/rows: ${res.status} ${res.text.slice(0, 300)}`);
    const answer = JSON.parse(res.text);
    for (const { table, rows } of body.tables) {
      if (answer.inserted[table] !== rows.length) throw new Error(`capacity at scale: ${table} took ${answer.inserted[table]} of ${rows.length} rows`);
      inserted[table] += rows.length;
    }
  }
  const rowsPerAccount = Object.fromEntries(source.map(({ table, rows }) => [table, rows.length / userIds.length]));
  return { copies, replicated: userIds.length * copies, rowsPerAccount, inserted };
}
