/**
 * The stored password hash (`users.password_hash`) as a BLOB (issue 27, slice 11: ~54 B instead of
 * ~87 B of text an account with a password). The code keeps the self-describing string of
 * ./passwords.ts (`pbkdf2-sha256$<iterations>$<salt>$<hash>`, salt and hash base64url); only D1 sees
 * the bytes. SQLite is typed by value, not by column: the column stays declared `text` (no table
 * rebuild: rebuilding `users` would empty every table that references it, docs/edge-sessions.md),
 * and a hash written before this change keeps its text until the account's next password change,
 * reset or rehash. Both forms read as the same string, and every comparison binds both
 * (`passwordHashIs`), so the guards of a sign-in or a change hold whichever form the row is in.
 *
 * The BLOB (big-endian; every field fixed by the string, so it reads back to that string exactly):
 * | byte | field |
 * |---|---|
 * | 0 | the algorithm: 1 `pbkdf2-sha256`, 2 `pbkdf2-sha256+pepper` |
 * | 1–4 | the iteration count (uint32) |
 * | 5 | the salt's length n (bytes) |
 * | 6 … 5+n | the salt |
 * | 6+n … | the derived key (at least 1 byte) |
 *
 * A string that does not round-trip so (another algorithm, a count with leading zeros, base64url
 * that is not canonical, a hand-made row) is stored as text, as before.
 *
 * @example
 * import { passwordHashIs } from "./password-column";
 * db.update(users).set({ passwordHash }).where(and(eq(users.id, id), passwordHashIs(users.passwordHash, current)));
 */
import type { SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import { base64url, fromBase64url } from "../crypto/base64url";
import { compactTextColumn, storedAsEither } from "../db/blob";

/** The algorithm names of ./passwords.ts's hashes, by their tag in the BLOB. */
export const PASSWORD_ALGORITHMS = { 1: "pbkdf2-sha256", 2: "pbkdf2-sha256+pepper" } as const;

const TAGS = new Map<string, number>(Object.entries(PASSWORD_ALGORITHMS).map(([tag, name]) => [name, Number(tag)]));
const MAX_UINT32 = 0xffff_ffff;

/** `text` as bytes when it is canonical base64url (it reads back the same), else null. */
function canonicalBytes(text: string | undefined): Uint8Array | null {
  if (!text) return null;
  try {
    const bytes = fromBase64url(text);
    return base64url(bytes) === text ? bytes : null;
  } catch {
    return null;
  }
}

/**
 * The BLOB form of a hash string, or null when the string has no exact BLOB form (it is then stored
 * as text). Pure: no I/O, no clock.
 */
export function passwordHashBytes(hash: string): Uint8Array | null {
  const [algorithm, iterations, saltText, keyText, ...rest] = hash.split("$");
  const tag = algorithm === undefined ? undefined : TAGS.get(algorithm);
  const count = Number(iterations);
  if (tag === undefined || rest.length > 0 || String(count) !== iterations || !Number.isInteger(count) || count < 0 || count > MAX_UINT32) return null;
  const salt = canonicalBytes(saltText);
  const key = canonicalBytes(keyText);
  if (!salt || !key || salt.length > 255) return null;
  const bytes = new Uint8Array(6 + salt.length + key.length);
  bytes[0] = tag;
  new DataView(bytes.buffer).setUint32(1, count);
  bytes[5] = salt.length;
  bytes.set(salt, 6);
  bytes.set(key, 6 + salt.length);
  return bytes;
}

/**
 * The hash string a BLOB stands for. A BLOB this module did not write (an unknown tag, too short)
 * reads as a string ./passwords.ts refuses (`unreadable`), so its account's password never matches:
 * a 401, not a 500.
 */
export function passwordHashText(bytes: Uint8Array): string {
  const algorithm = PASSWORD_ALGORITHMS[bytes[0] as keyof typeof PASSWORD_ALGORITHMS];
  const saltLength = bytes[5] ?? 0;
  if (!algorithm || bytes.length < 7 + saltLength || saltLength === 0) return "unreadable";
  const count = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1);
  return [algorithm, count, base64url(bytes.subarray(6, 6 + saltLength)), base64url(bytes.subarray(6 + saltLength))].join("$");
}

/**
 * The password hash column: the hash string in the code, its BLOB when written (text when it has
 * none), either form when read. Declared `text` so the schema and drizzle-kit's migrations keep the
 * column as it was.
 */
export const passwordHashColumn = compactTextColumn(passwordHashBytes, passwordHashText);

/**
 * `column` holds `hash` in either stored form: its BLOB, or the text a row from before keeps. A
 * typed SQL condition for a `where` or a guard (never true for a NULL column).
 */
export function passwordHashIs(column: SQLiteColumn, hash: string): SQL {
  return storedAsEither(column, hash, passwordHashBytes(hash));
}
