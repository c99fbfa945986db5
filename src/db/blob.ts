/**
 * BLOBs in D1, for the columns that keep bytes (issue 27: a passkey's binary fields, id and transports, a password's
 * hash). D1 binds an `ArrayBuffer` as a BLOB, and returns a BLOB as an `ArrayBuffer` or as an array
 * of byte values (the outbox's JSON keeps it so: src/sessions/outbox.ts); these two helpers convert
 * to and from those forms. Plain JavaScript, no WebCrypto: the schemas import it.
 *
 * @example
 * import { blobBytes, toBlob } from "../db/blob";
 * await db.prepare("INSERT INTO t (b) VALUES (?)").bind(toBlob(new Uint8Array([1, 2]))).run();
 * const bytes = blobBytes((await db.prepare("SELECT b FROM t").first<{ b: number[] }>())!.b); // Uint8Array [1, 2]
 */

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
