/**
 * BLOBs in D1, for the columns that keep bytes (issue 27: a passkey's binary fields, id and transports, a password's
 * hash). D1 binds an `ArrayBuffer` as a BLOB, and returns a BLOB as an `ArrayBuffer` or as an array
 * of byte values (the outbox's JSON keeps it so: src/sessions/outbox.ts); `toBlob` and `blobBytes`
 * convert to and from those forms. `compactTextColumn` makes a column of text kept as a shorter BLOB
 * where one reads back exactly, and `storedAsEither` compares such a column in both forms. Plain
 * JavaScript, no WebCrypto: the schemas import it.
 *
 * @example
 * import { blobBytes, toBlob } from "../db/blob";
 * await db.prepare("INSERT INTO t (b) VALUES (?)").bind(toBlob(new Uint8Array([1, 2]))).run();
 * const bytes = blobBytes((await db.prepare("SELECT b FROM t").first<{ b: number[] }>())!.b); // Uint8Array [1, 2]
 */

import { sql } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import { customType } from "drizzle-orm/sqlite-core";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";

/** A BLOB as D1 (or a JSON copy of a bound value) hands it back. */
export type BlobValue = ArrayBuffer | ArrayBufferView | number[];

/** `bytes` as an ArrayBuffer of exactly its length, which D1 binds as a BLOB. */
export function toBlob(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer as ArrayBuffer;
}

/** The bytes of a BLOB in any of the forms D1 returns (a copy: the caller may keep it). */
export function blobBytes(value: BlobValue): Uint8Array {
  if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0));
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength));
  return Uint8Array.from(value);
}

/**
 * A column of text values the code sees as text and D1 keeps as a BLOB when `encode` gives bytes for
 * one (its exact, shorter form), else as the text: `decode` must give back the very text `encode`
 * read. Declared `text`, so the schema and drizzle-kit's migrations keep the column as it was, and
 * rows written as text before keep working (read as they are).
 *
 * @example
 * export const uuidColumn = compactTextColumn(uuidBytes, uuidText); // src/db/uuid-bytes.ts
 * id: uuidColumn("id").notNull(),
 */
export function compactTextColumn(encode: (text: string) => Uint8Array | null, decode: (bytes: Uint8Array) => string) {
  return customType<{ data: string; driverData: string | BlobValue }>({
    dataType: () => "text",
    toDriver: (text) => {
      const bytes = encode(text);
      return bytes ? toBlob(bytes) : text;
    },
    fromDriver: (value) => (typeof value === "string" ? value : decode(blobBytes(value))),
  });
}

/**
 * `column` holds `text` in either form a `compactTextColumn` keeps (`bytes`, its BLOB, or the text),
 * or, with `negate`, in neither; only the text when there are no bytes. `column` may be an aliased
 * column as SQL (`sql\`other.id\``).
 */
export function storedAsEither(column: SQLiteColumn | SQL, text: string, bytes: Uint8Array | null, negate = false): SQL {
  if (!bytes) return negate ? sql`${column} <> ${text}` : sql`${column} = ${text}`;
  return negate ? sql`${column} NOT IN (${toBlob(bytes)}, ${text})` : sql`${column} IN (${toBlob(bytes)}, ${text})`;
}
