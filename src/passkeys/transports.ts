/**
 * A passkey's transports (WebAuthn §5.2.1 `getTransports()`, §5.8.4 `AuthenticatorTransport`) as a
 * one-byte BLOB in D1 (issue 27, slice 11: 2 bytes of record instead of 12 to 60 of JSON text), one
 * bit a transport. A BLOB, not an integer: the column is declared `text`, and SQLite's text affinity
 * stores a number as its text ("12.0"); a BLOB is stored as it is. The code keeps the JSON text it
 * always had (`["hybrid","internal"]`); only D1 sees the bits. WebAuthn gives the list without
 * duplicates in lexicographical order, so a set of bits reads back to the same text; a list that
 * would not (unknown names, another order, duplicates) is stored as its text, as every row written
 * before this change is. No comparison in SQL reads the column, so there is nothing to bind in both
 * forms.
 *
 * @example
 * transportsBits('["hybrid","internal"]'); // 12 (hybrid 4 | internal 8)
 * transportsText(12);                      // '["hybrid","internal"]'
 */
import { compactTextColumn } from "../db/blob";

/** The transports WebAuthn Level 3 and @simplewebauthn/server name, in lexicographical order; bit i is TRANSPORTS[i]. */
export const TRANSPORTS = ["ble", "cable", "hybrid", "internal", "nfc", "smart-card", "usb"] as const;

/**
 * The bits of a transports list given as JSON text, or null when the text is not exactly what
 * `transportsText` would give back for them (it is then stored as text). An empty list is null too
 * (the service stores no transports as NULL).
 */
export function transportsBits(json: string): number | null {
  let list: unknown;
  try {
    list = JSON.parse(json);
  } catch {
    return null;
  }
  if (!Array.isArray(list) || list.length === 0) return null;
  let bits = 0;
  for (const name of list) {
    const bit = TRANSPORTS.indexOf(name as (typeof TRANSPORTS)[number]);
    if (bit < 0) return null;
    bits |= 1 << bit;
  }
  return transportsText(bits) === json ? bits : null;
}

/** The JSON text of a set of transport bits, in lexicographical order. */
export function transportsText(bits: number): string {
  return JSON.stringify(TRANSPORTS.filter((_, bit) => (bits & (1 << bit)) !== 0));
}

/**
 * The transports column: JSON text in the code, a one-byte BLOB of bits when written (the text when
 * it has none), either form when read. Declared `text` so the schema and drizzle-kit's migrations
 * keep the column as it was.
 */
export const transportsColumn = compactTextColumn(
  (json) => {
    const bits = transportsBits(json);
    return bits === null ? null : Uint8Array.of(bits);
  },
  (bytes) => transportsText(bytes[0] ?? 0),
);
