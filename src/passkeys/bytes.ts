/**
 * The passkey's binary fields (WebAuthn §5: the credential id, the COSE public key, the user handle)
 * as D1 BLOBs (issue 27: 12 to 26 B less a field than their base64url text, and the credential id
 * twice: the table and its UNIQUE index). SQLite is typed by value, not by column: the columns stay
 * declared `text` (no table rebuild), a BLOB bound to them is stored as a BLOB, and rows written
 * before this change keep their base64url text until the passkey's next sign-in rewrites them (its
 * row is written then anyway: ./login.ts). Both forms read the same: `webauthnBytes` decodes either
 * to bytes, and every lookup or guard by value binds both (`inEitherForm`), so
 * a row never used again may keep its text for good.
 *
 * @example
 * import { credentialIdBytes, inEitherForm } from "./bytes";
 * const bytes = credentialIdBytes(response.id); // null when not canonical base64url
 * const found = bytes ? inEitherForm(passkeys.credentialId, bytes) : sql`0`; // ./login.ts, ./index.ts
 */
import { sql } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import { customType } from "drizzle-orm/sqlite-core";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import { base64url, fromBase64url } from "../crypto/base64url";
import { blobBytes, toBlob } from "../db/blob";
import type { BlobValue } from "../db/blob";

/** What D1 returns for a value: text (a row from before), or a BLOB (src/db/blob.ts). */
type Stored = string | BlobValue;

/** Bytes from a stored value of either form; a text value is base64url (WebAuthn's JSON form). */
export function fromStored(value: Stored): Uint8Array {
  if (typeof value === "string") {
    try {
      return fromBase64url(value);
    } catch {
      // Not base64url, so never written by the service (a hand-made row): read, not refused.
      return new TextEncoder().encode(value);
    }
  }
  return blobBytes(value);
}

/**
 * A column of WebAuthn bytes: `Uint8Array` in the code, a BLOB when written, either form when read.
 * Declared `text` so the schema (and drizzle-kit's migrations) keep the column as it was.
 */
export const webauthnBytes = customType<{ data: Uint8Array; driverData: Stored }>({
  dataType: () => "text",
  toDriver: (value) => toBlob(value),
  fromDriver: (value) => fromStored(value),
});

/**
 * The bytes of a credential id as the client sent it (base64url, WebAuthn's `id`), or null when the
 * text is empty or not canonical base64url (so one stored credential answers to one id only): the
 * caller finds nothing for it, as for an unknown credential.
 */
export function credentialIdBytes(id: string): Uint8Array | null {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64url(id);
  } catch {
    return null;
  }
  return bytes.length > 0 && base64url(bytes) === id ? bytes : null;
}

/** `column` equals `bytes` in either stored form (a BLOB, or its base64url text from before). */
export function inEitherForm(column: SQLiteColumn, bytes: Uint8Array): SQL {
  return sql`${column} IN (${toBlob(bytes)}, ${base64url(bytes)})`;
}
