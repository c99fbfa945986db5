/**
 * The password hash a `users` row keeps, read with raw SQL and decoded here, independently of
 * src/accounts/password-column.ts (issue 27 slice 11): a BLOB of tag (1 `pbkdf2-sha256`,
 * 2 `+pepper`), uint32 iterations (big-endian), salt length, salt, derived key; or the text a row
 * from before keeps.
 *
 * @example
 * const { form, hash } = await storedPasswordHash(userId); // "blob", "pbkdf2-sha256$100000$…$…"
 */
import { env } from "cloudflare:workers";
import * as jose from "jose";

export interface StoredPasswordHash {
  /** SQLite's `typeof(password_hash)`. */
  form: "blob" | "text" | "null";
  /** The hash as ./passwords.ts writes it, or null when the row has none (or no row). */
  hash: string | null;
  /** The BLOB's length in bytes, or the text's in characters. */
  length: number;
}

const NAMES: Record<number, string> = { 1: "pbkdf2-sha256", 2: "pbkdf2-sha256+pepper" };

/** Decodes the BLOB form to the hash string (throws on a BLOB of another layout). */
export function decodePasswordBlob(bytes: Uint8Array): string {
  const name = NAMES[bytes[0]!];
  const saltLength = bytes[5]!;
  if (!name || bytes.length <= 6 + saltLength) throw new Error(`not a password BLOB: ${bytes.length} bytes`);
  const iterations = ((bytes[1]! << 24) >>> 0) + (bytes[2]! << 16) + (bytes[3]! << 8) + bytes[4]!;
  return [name, iterations, jose.base64url.encode(bytes.slice(6, 6 + saltLength)), jose.base64url.encode(bytes.slice(6 + saltLength))].join("$");
}

/** The stored form and hash of `userId`'s password, read straight from D1. */
export async function storedPasswordHash(userId: string): Promise<StoredPasswordHash> {
  const row = await env.DB.prepare("SELECT password_hash AS h, typeof(password_hash) AS form, length(password_hash) AS length FROM users WHERE id = ?")
    .bind(userId)
    .first<{ h: string | ArrayBuffer | number[] | null; form: StoredPasswordHash["form"]; length: number | null }>();
  if (!row || row.h === null) return { form: "null", hash: null, length: 0 };
  if (typeof row.h === "string") return { form: row.form, hash: row.h, length: row.length ?? 0 };
  const bytes = row.h instanceof ArrayBuffer ? new Uint8Array(row.h) : Uint8Array.from(row.h);
  return { form: row.form, hash: decodePasswordBlob(bytes), length: row.length ?? 0 };
}
