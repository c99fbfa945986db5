/**
 * TOTP (RFC 6238 over HOTP, RFC 4226) with WebCrypto: HMAC-SHA-1, 6 digits, 30-second steps, the
 * parameters every authenticator app supports; base32 (RFC 4648 §6) for the secret, and the key URI
 * authenticator apps read (`otpauth://totp/<issuer>:<account>?secret=…&issuer=…`).
 *
 * @example
 * const secret = crypto.getRandomValues(new Uint8Array(20));
 * const uri = otpauthUri({ secret, issuer: "Acme", account: "ada@example.com" });
 * const step = await matchingStep(secret, "492039", Date.now()); // the step matched, or null
 */
import { constantTimeEqual } from "../crypto";

/** Seconds per step (RFC 6238 §4 X). */
export const STEP_SECONDS = 30;
export const DIGITS = 6;
/** Steps accepted either side of the current one (RFC 6238 §5.2: one step of network delay). */
export const WINDOW = 1;

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** Base32 without padding, upper case (RFC 4648 §6), as authenticator apps expect. */
export function base32(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** The 30-second step that holds `nowMs` (RFC 6238 §4.2 T). */
export const stepAt = (nowMs: number) => Math.floor(nowMs / 1000 / STEP_SECONDS);

/** HOTP(secret, counter) as 6 decimal digits (RFC 4226 §5.3 dynamic truncation). */
export async function hotp(secret: Uint8Array, counter: number): Promise<string> {
  const key = await crypto.subtle.importKey("raw", secret as Uint8Array<ArrayBuffer>, { name: "HMAC", hash: "SHA-1" }, false, ["sign"]);
  const message = new DataView(new ArrayBuffer(8));
  message.setUint32(0, Math.floor(counter / 2 ** 32));
  message.setUint32(4, counter >>> 0);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, message.buffer));
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = ((mac[offset]! & 0x7f) << 24) | (mac[offset + 1]! << 16) | (mac[offset + 2]! << 8) | mac[offset + 3]!;
  return String(binary % 10 ** DIGITS).padStart(DIGITS, "0");
}

/**
 * The step (current, or one either side) whose code `code` is, or null. Every candidate is computed
 * and compared in constant time, so the answer's timing does not tell which one matched.
 */
export async function matchingStep(secret: Uint8Array, code: string, nowMs: number): Promise<number | null> {
  const typed = code.replace(/\s+/g, "");
  if (!/^\d{6}$/.test(typed)) return null;
  const current = stepAt(nowMs);
  let found: number | null = null;
  for (let step = current - WINDOW; step <= current + WINDOW; step++) {
    if (constantTimeEqual(await hotp(secret, step), typed)) found = step;
  }
  return found;
}

/**
 * The key URI of Google Authenticator's format (`otpauth://totp/<issuer>:<account>?…`): the label's
 * parts percent-encoded, the issuer repeated as a parameter, the algorithm, digits and period named.
 */
export function otpauthUri(input: { secret: Uint8Array; issuer: string; account: string }): string {
  const label = `${encodeURIComponent(input.issuer)}:${encodeURIComponent(input.account)}`;
  const query = new URLSearchParams({ secret: base32(input.secret), issuer: input.issuer, algorithm: "SHA1", digits: String(DIGITS), period: String(STEP_SECONDS) });
  return `otpauth://totp/${label}?${query.toString().replace(/\+/g, "%20")}`;
}
