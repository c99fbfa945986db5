/**
 * Small WebCrypto helpers: random tokens, hashes for storing tokens, constant-time comparison,
 * and sealing a value under a token so that only a holder of the token can open it.
 *
 * @example
 * import { randomToken, sha256 } from "./index";
 * const token = randomToken();        // 256 random bits, base64url
 * const stored = await sha256(token); // what the database keeps
 */

import { base64url, fromBase64url } from "./base64url";

export { base64url, fromBase64url };

const encoder = new TextEncoder();

/** `byteLength` random bytes from the CSPRNG, base64url; 32 bytes is 256 bits. */
export function randomToken(byteLength = 32): string {
  return base64url(crypto.getRandomValues(new Uint8Array(byteLength)));
}

/** SHA-256 of a UTF-8 string, base64url. Tokens are stored only in this form. */
export async function sha256(value: string): Promise<string> {
  return base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(value))));
}

/** Constant-time equality of two strings (their lengths may leak, their contents do not). */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = encoder.encode(a);
  const right = encoder.encode(b);
  if (left.byteLength !== right.byteLength) {
    // Compare against itself so the time spent does not depend on where a mismatch is.
    crypto.subtle.timingSafeEqual(left, left);
    return false;
  }
  return crypto.subtle.timingSafeEqual(left, right);
}

async function sealingKey(secret: string): Promise<CryptoKey> {
  const material = await crypto.subtle.digest("SHA-256", encoder.encode(`seal:${secret}`));
  return crypto.subtle.importKey("raw", material, "AES-GCM", false, ["encrypt", "decrypt"]);
}

/** Encrypts `plaintext` with a key derived from `secret` (AES-256-GCM, random IV). */
export async function seal(secret: string, plaintext: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const key = await sealingKey(secret);
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, encoder.encode(plaintext)));
  return `${base64url(iv)}.${base64url(sealed)}`;
}

/** Opens what `seal` made with the same secret; null when the secret is wrong or data damaged. */
export async function unseal(secret: string, sealed: string): Promise<string | null> {
  const [iv, data] = sealed.split(".");
  if (!iv || !data) return null;
  try {
    const key = await sealingKey(secret);
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: fromBase64url(iv) }, key, fromBase64url(data));
    return new TextDecoder().decode(plain);
  } catch {
    return null;
  }
}

export const isUuid = (value: string) =>
  /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i.test(value);
