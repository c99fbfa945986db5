/**
 * A UUID kept as its 16 bytes in D1 (issue 27, slice 11: 17 bytes of record instead of 37), for a
 * column no other table references and no index orders by meaning (a passkey's id). The code keeps
 * the canonical text (RFC 9562 §4: lower-case hex, dashed); only D1 sees the bytes. SQLite is typed
 * by value: the column stays declared `text` (no rebuild) and a bound BLOB is kept as a BLOB, while
 * rows written before keep their text. Both forms read as the same text, and every comparison binds
 * both (`uuidIs`, `uuidIsNot`). Text that is not a canonical UUID is stored as it is.
 *
 * @example
 * import { uuidColumn, uuidIs } from "../db/uuid-bytes";
 * id: uuidColumn("id").notNull(),                                   // in a sqliteTable
 * db.delete(passkeys).where(and(uuidIs(passkeys.id, passkeyId), eq(passkeys.userId, userId)));
 */
import type { SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import { compactTextColumn, storedAsEither } from "./blob";

const CANONICAL = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The 16 bytes of a canonical UUID (lower-case, dashed), or null for any other text. */
export function uuidBytes(id: string): Uint8Array | null {
  if (!CANONICAL.test(id)) return null;
  const hex = id.replace(/-/g, "");
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** The canonical text of 16 bytes; other lengths (never written by `uuidColumn`) read as their hex. */
export function uuidText(bytes: Uint8Array): string {
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return bytes.length === 16 ? `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}` : hex;
}

/**
 * The bytes of a BLOB that reads as `id` (`uuidText`'s inverse): a canonical UUID's 16, or, for even-length
 * lower-case hex that is not 32 digits long, the bytes it spells (a BLOB of another length, never written
 * by `uuidColumn` but read back as its hex); null when no BLOB reads as `id` (or for an empty one).
 */
function storedBytes(id: string): Uint8Array | null {
  const bytes = uuidBytes(id);
  if (bytes || id.length === 32 || !/^(?:[0-9a-f]{2})+$/.test(id)) return bytes;
  return Uint8Array.from(id.match(/../g) ?? [], (b) => parseInt(b, 16));
}

/**
 * A UUID column: canonical text in the code, 16 bytes when written (other text as it is), either form
 * when read. Declared `text` so the schema and drizzle-kit's migrations keep the column as it was.
 */
export const uuidColumn = compactTextColumn(uuidBytes, uuidText);

/**
 * `column` holds the UUID `id` in either stored form (its 16 bytes, or the text a row from before
 * keeps); `column` may be an aliased column as SQL (`sql\`other.id\``). Any id as read (`uuidColumn`)
 * matches its own row, a hand-made BLOB of another length too (`storedBytes`).
 */
export function uuidIs(column: SQLiteColumn | SQL, id: string): SQL {
  return storedAsEither(column, id, storedBytes(id));
}

/** `column` holds neither stored form of `id` (false for a NULL column, as `<>` is). */
export function uuidIsNot(column: SQLiteColumn | SQL, id: string): SQL {
  return storedAsEither(column, id, storedBytes(id), true);
}
